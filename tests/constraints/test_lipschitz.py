"""Convolution operator norms against the convolution written out as a dense matrix.

Tolerances (float32): ``conv_operator_norm`` within 1e-5 (relative) of the
dense circular matrix's largest singular value; ``conv_norm_bound`` at least
that and at most 1 % above it at its default iterations; for zero padding
both are upper bounds of the dense zero-padded matrix's norm (from
``keras.ops.conv``), so no input is amplified more.
"""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest

from keras_kernel_constraints import constraints, lipschitz
from keras_kernel_constraints.constraints import ConvLipschitz
from keras_kernel_constraints.lipschitz import conv_norm_bound, conv_operator_norm
from tests.helpers import as_f64, keras_at_least, needs_float64, run_python, tensor, to_numpy

needs_eigh = pytest.mark.skipif(
    not keras_at_least(3, 3),
    reason=f"conv_operator_norm needs keras.ops.eigh (Keras >= 3.3); this is {keras.__version__}",
)


def circular_matrix(kernel, size, strides):
    """The circular convolution (Keras's correlation convention) as a dense matrix."""
    rank = kernel.ndim - 2
    cin, cout = kernel.shape[-2:]
    outs = [n // s for n, s in zip(size, strides, strict=True)]
    matrix = np.zeros((int(np.prod(outs)) * cout, int(np.prod(size)) * cin))
    for out in itertools.product(*map(range, outs)):
        row = np.ravel_multi_index(out, outs) * cout
        for tap in itertools.product(*map(range, kernel.shape[:rank])):
            at = [(o * s + a) % n for o, s, a, n in zip(out, strides, tap, size, strict=True)]
            column = np.ravel_multi_index(at, size) * cin
            matrix[row : row + cout, column : column + cin] += kernel[tap].T
    return matrix


def zero_padded_matrix(kernel, size, strides, padding):
    """The layer's own map (``keras.ops.conv``) applied to every basis input."""
    n = int(np.prod(size)) * kernel.shape[-2]
    basis = np.eye(n, dtype="float32").reshape((n, *size, kernel.shape[-2]))
    out = keras.ops.conv(basis, kernel.astype("float32"), strides=strides, padding=padding)
    return to_numpy(out).reshape(n, -1).T.astype(np.float64)


CIRCULAR = [
    # kernel taps, input size, strides, in, out
    ((3, 3), (6, 6), (1, 1), 2, 3),
    ((3, 3), (4, 4), (1, 1), 1, 1),
    ((3, 3), (5, 5), (1, 1), 4, 2),
    ((5,), (10,), (1,), 4, 4),
    ((2, 3), (6, 9), (2, 3), 2, 2),
    ((3, 3), (8, 6), (2, 2), 3, 2),
    ((4,), (12,), (3,), 2, 5),
]


@needs_eigh
@pytest.mark.parametrize("taps, size, strides, cin, cout", CIRCULAR)
def test_the_operator_norm_is_the_dense_circular_matrix_norm(taps, size, strides, cin, cout, rng):
    kernel = rng.normal(size=(*taps, cin, cout))
    exact = np.linalg.norm(circular_matrix(kernel, size, strides), 2)
    got = float(conv_operator_norm(kernel.astype("float32"), size, strides=strides))
    assert got == pytest.approx(exact, rel=1e-5)
    bound = float(conv_norm_bound(kernel.astype("float32"), size, strides=strides))
    assert exact <= bound <= 1.01 * exact


@needs_eigh
@needs_float64
def test_float64_stays_float64_all_the_way(rng):
    # Keras computes PyTorch's float64 tensordot and maximum in float32.
    kernel = rng.normal(size=(3, 3, 2, 3))
    exact = np.linalg.norm(circular_matrix(kernel, (6, 6), (1, 1)), 2)
    got = float(conv_operator_norm(tensor(kernel, "float64"), (6, 6)))
    assert got == pytest.approx(exact, rel=1e-12)
    bound = float(conv_norm_bound(tensor(kernel, "float64"), (6, 6), iterations=10))
    assert exact <= bound <= exact * (1 + 1e-12)


@needs_eigh
@pytest.mark.parametrize("shape", [(3, 3, 16, 32), (3, 3, 64, 64), (1, 1, 32, 32), (5, 5, 8, 8)])
def test_the_gram_bound_is_within_one_percent_at_its_default_iterations(shape, rng):
    kernel = rng.normal(size=shape).astype("float32")
    exact = float(conv_operator_norm(kernel, (8, 8)))
    bound = float(conv_norm_bound(kernel, (8, 8)))
    assert exact <= bound <= 1.01 * exact


def test_the_gram_bound_is_exact_for_a_scaled_identity_and_never_below_it():
    # Rank one per frequency: the bound is the norm itself, plus the margin
    # for rounding; no fewer iterations put it below.
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[1, 1] = 3.0
    for iterations in (1, 2, 6, 10):
        bound = float(conv_norm_bound(kernel, (8, 8), iterations=iterations))
        margin = 8 * (iterations + 1) * np.finfo(np.float32).eps  # the documented one
        assert 3.0 <= bound <= 3.0 * (1 + 2 * margin)


@pytest.mark.parametrize(
    "taps, size, strides, padding",
    [
        ((3, 3), (6, 6), 1, "same"),
        ((3, 3), (7, 7), 2, "same"),
        ((3, 3), (6, 6), 1, "valid"),
        ((5,), (11,), 2, "same"),
        ((5,), (11,), 1, "valid"),
    ],
)
def test_for_zero_padding_no_input_is_amplified_beyond_the_bound(taps, size, strides, padding, rng):
    kernel = rng.normal(size=(*taps, 3, 2)).astype("float32")
    matrix = zero_padded_matrix(kernel, size, strides, padding)
    bound = float(conv_norm_bound(kernel, size, strides=strides, padding=padding))
    assert np.linalg.norm(matrix, 2) <= bound
    inputs = rng.normal(size=(200, matrix.shape[1]))
    gains = np.linalg.norm(inputs @ matrix.T, axis=1) / np.linalg.norm(inputs, axis=1)
    assert gains.max() <= bound
    if keras_at_least(3, 3):
        assert np.linalg.norm(matrix, 2) <= float(
            conv_operator_norm(kernel, size, strides=strides, padding=padding)
        ) * (1 + 1e-6)


@pytest.mark.parametrize("padding", ["circular", "same", "valid"])
def test_after_conv_lipschitz_the_layer_gain_is_at_most_c(padding, rng):
    kernel = 3 * rng.normal(size=(3, 3, 2, 3)).astype("float32")
    size = (6, 6)
    scaled = as_f64(ConvLipschitz(0.5, size, padding=padding)(kernel))
    if padding == "circular":
        matrix = circular_matrix(scaled, size, (1, 1))
    else:
        matrix = zero_padded_matrix(scaled, size, 1, padding)
    assert np.linalg.norm(matrix, 2) <= 0.5 * (1 + 1e-6)
    # Radial: the same direction, only shorter.
    np.testing.assert_allclose(scaled / np.abs(scaled).max(), kernel / np.abs(kernel).max(), 1e-6)


def test_a_kernel_within_the_bound_is_returned_bit_for_bit(rng):
    kernel = rng.normal(size=(3, 3, 2, 2)).astype("float32")
    kernel *= 0.5 / float(conv_norm_bound(kernel, (8, 8), padding="same"))
    np.testing.assert_array_equal(to_numpy(ConvLipschitz(1.0, (8, 8))(kernel)), kernel)
    zeros = np.zeros((3, 3, 2, 2), "float32")
    np.testing.assert_array_equal(to_numpy(ConvLipschitz(1.0, (8, 8))(zeros)), zeros)


def test_a_nan_poisons_the_kernel_and_an_infinity_gives_a_feasible_kernel(rng):
    kernel = rng.normal(size=(3, 3, 2, 2)).astype("float32")
    poisoned = kernel.copy()
    poisoned[0, 0, 0, 0] = np.nan
    assert np.all(np.isnan(to_numpy(ConvLipschitz(1.0, (8, 8))(poisoned))))
    poisoned[0, 0, 0, 0] = np.inf
    out = to_numpy(ConvLipschitz(1.0, (8, 8), padding="circular")(poisoned))
    assert np.all(np.isfinite(out))
    assert np.linalg.norm(circular_matrix(out.astype(np.float64), (8, 8), (1, 1)), 2) <= 1 + 1e-6


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_the_result_keeps_the_weight_dtype(dtype, rng):
    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX without x64 makes no float64 tensors")
    kernel = keras.ops.convert_to_tensor(rng.normal(size=(3, 3, 2, 2)), dtype)
    out = ConvLipschitz(1.0, (8, 8))(keras.Variable(kernel, dtype=dtype))
    assert keras.backend.standardize_dtype(out.dtype) == dtype


@pytest.mark.slow
def test_a_conv2d_stays_one_lipschitz_through_a_compiled_fit_and_a_saved_file(tmp_path, rng):
    constraint = ConvLipschitz(1.0, (8, 8), padding="same")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(3, 3, padding="same", kernel_constraint=constraint),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    x = rng.normal(size=(64, 8, 8, 2)).astype("float32")
    model.fit(x, 5 * rng.normal(size=(64, 8, 8, 3)), epochs=3, batch_size=16, verbose=0)
    kernel = to_numpy(model.layers[0].kernel)
    assert np.linalg.norm(zero_padded_matrix(kernel, (8, 8), 1, "same"), 2) <= 1 + 1e-5
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].kernel_constraint == constraint
    # A fresh process, no custom_objects: the constraint comes back and keeps acting.
    report = json.loads(
        run_python(FRESH_LOADER, str(tmp_path / "m.keras"), str(tmp_path / "after.npy"))
    )
    assert report == {"config": constraint.get_config(), "module": type(constraint).__module__}
    after = np.load(tmp_path / "after.npy").astype(np.float64)
    assert not np.array_equal(after, kernel)  # it trained
    assert np.linalg.norm(zero_padded_matrix(after, (8, 8), 1, "same"), 2) <= 1 + 1e-5


FRESH_LOADER = r"""
import json, sys
import numpy as np
import keras
import keras_kernel_constraints

path, out = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(path, safe_mode=True)
constraint = model.layers[0].kernel.constraint
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 8, 8, 2)).astype("float32")
model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
model.fit(x, 5 * rng.normal(size=(64, 8, 8, 3)).astype("float32"), epochs=2, verbose=0)
np.save(out, model.layers[0].kernel.numpy())
print(json.dumps({"config": constraint.get_config(), "module": type(constraint).__module__}))
"""


def test_config_mirrors_init_and_the_name_resolves():
    constraint = ConvLipschitz(2.0, (16, 8), strides=(2, 1), padding="valid", iterations=4)
    config = constraint.get_config()
    assert config == {
        "max_value": 2.0,
        "input_shape": [16, 8],
        "strides": [2, 1],
        "padding": "valid",
        "iterations": 4,
    }
    assert ConvLipschitz(**config) == constraint
    assert constraints.get(keras.saving.serialize_keras_object(constraint)) == constraint
    assert constraints.conv_lipschitz is ConvLipschitz
    with pytest.raises(ValueError, match="no default for max_value, input_shape"):
        constraints.get("conv_lipschitz")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_value": 0.0, "input_shape": (8, 8)}, "max_value"),
        ({"max_value": float("inf"), "input_shape": (8, 8)}, "max_value"),
        ({"max_value": 1.0, "input_shape": (8, 0)}, "input_shape"),
        ({"max_value": 1.0, "input_shape": 8}, "input_shape"),
        ({"max_value": 1.0, "input_shape": (8, 8), "strides": 0}, "strides"),
        ({"max_value": 1.0, "input_shape": (8, 8), "padding": "reflect"}, "padding"),
        ({"max_value": 1.0, "input_shape": (8, 8), "iterations": 0}, "iterations"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvLipschitz(**kwargs)


@pytest.mark.parametrize(
    "constraint, shape, message",
    [
        (ConvLipschitz(1.0, (8, 8)), (3, 3, 4), r"shape \(3, 3, 4\)"),
        (ConvLipschitz(1.0, (8,)), (3, 3, 2, 2), r"input_shape=\(8,\)"),
        (ConvLipschitz(1.0, (8, 8), strides=(1, 1, 1)), (3, 3, 2, 2), "strides"),
        (ConvLipschitz(1.0, (7, 8), strides=2, padding="circular"), (3, 3, 2, 2), "multiple"),
    ],
)
def test_a_kernel_that_does_not_fit_raises_on_first_use(constraint, shape, message):
    with pytest.raises(ValueError, match=f"ConvLipschitz.*{message}"):
        constraint(keras.Variable(np.zeros(shape, "float32")))


def test_the_functions_name_themselves_in_their_errors():
    with pytest.raises(ValueError, match=r"conv_norm_bound.*iterations"):
        conv_norm_bound(np.zeros((3, 3, 1, 1)), (8, 8), iterations=0)
    with pytest.raises(ValueError, match=r"conv_norm_bound.*padding"):
        conv_norm_bound(np.zeros((3, 3, 1, 1)), (8, 8), padding="full")
    assert lipschitz.PADDINGS == ("circular", "same", "valid")
