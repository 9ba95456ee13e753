"""Monotone: construction, first-use errors, and positive monotone FIR kernels
learned by Conv1D and DepthwiseConv1D layers under ``jit_compile=True``."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Monotone
from keras_kernel_constraints.projections import project_monotone
from tests.helpers import as_f64, tensor, to_numpy

# A positive, increasing FIR kernel (a rising ramp with a soft knee).
FIR = np.array([0.02, 0.05, 0.1, 0.18, 0.3, 0.45, 0.6, 0.8], "float32")
DEPTHWISE_FIR = np.stack([FIR, np.sqrt(FIR), np.linspace(0.0, 0.5, 8)], axis=1).astype("float32")


def test_scalar_weight_raises_on_first_use():
    with pytest.raises(ValueError, match="Monotone needs a weight of rank >= 1"):
        Monotone()(np.float32(2.0))


def test_axis_out_of_range_raises_on_first_use():
    with pytest.raises(ValueError, match=r"Monotone: `axis`=3 is out of range .* \(5, 2\)"):
        Monotone(axis=3)(np.zeros((5, 2), "float32"))


def test_steps_that_cannot_fit_the_length_raise_on_first_use():
    constraint = Monotone(min_value=0.0, max_value=1.0, min_step=0.2)
    constraint(np.zeros((6, 2), "float32"))  # 5 steps of 0.2 fit exactly
    with pytest.raises(ValueError, match=r"Monotone: `min_step`=0.2 is infeasible: 7 ordered"):
        constraint(np.zeros((7, 2), "float32"))


def test_infeasible_steps_fail_fit_with_the_same_error():
    layer = keras.layers.Conv1D(
        2, 7, kernel_constraint=Monotone(True, axis=0, min_value=0.0, max_value=1.0, min_step=0.2)
    )
    model = keras.Sequential([keras.Input((16, 1)), layer])
    model.compile("sgd", "mse", jit_compile=True)
    with pytest.raises(ValueError, match=r"`min_step`=0\.2 is infeasible"):
        model.fit(np.ones((4, 16, 1), "float32"), np.ones((4, 10, 2), "float32"), verbose=0)


def test_length_one_axis_is_a_no_op(rng):
    w = tensor(rng.normal(size=(1, 3, 4)), "float32")
    np.testing.assert_array_equal(to_numpy(Monotone()(w)), to_numpy(w))


def test_constraint_is_the_projection(rng):
    w = tensor(rng.normal(size=(9, 2, 3)), "float64")
    c = Monotone(False, axis=0, min_value=-0.5, max_value=0.5, min_step=0.05)
    np.testing.assert_array_equal(
        to_numpy(c(w)),
        to_numpy(
            project_monotone(
                w, axis=0, increasing=False, min_value=-0.5, max_value=0.5, min_step=0.05
            )
        ),
    )


def fir_data(kernel, channels, seed):
    """Noise-free input/output pairs of a depthwise FIR filter ``kernel``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 48, channels)).astype("float32")
    teacher = keras.layers.DepthwiseConv1D(len(kernel), use_bias=False)
    teacher.build((None, 48, channels))
    teacher.kernel.assign(np.reshape(kernel, (len(kernel), channels, 1)))
    return x, keras.ops.convert_to_numpy(teacher(x))


def train_and_record(layer, x, y, variable, epochs):
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=True)
    history = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: history.append(np.array(to_numpy(variable())))
    )
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[record])
    return history


def assert_positive_monotone(kernels):
    for k in kernels:
        assert k.min() >= 0.0
        assert np.diff(k, axis=0).min() >= 0.0  # exact: the projection sorts bit for bit


def test_conv1d_learns_a_positive_monotone_fir_kernel():
    keras.utils.set_random_seed(4)
    x, y = fir_data(FIR[:, None], 1, seed=4)
    # Start from a decreasing kernel: far from the target and from the set.
    start = np.linspace(0.6, -0.2, 8, dtype="float32").reshape(8, 1, 1)
    layer = keras.layers.Conv1D(
        1,
        8,
        use_bias=False,
        kernel_constraint=Monotone(min_value=0.0),
        kernel_initializer=keras.initializers.Constant(start),
    )
    history = train_and_record(layer, x, y, lambda: layer.kernel, epochs=30)
    assert_positive_monotone(history)
    learned = history[-1][:, 0, 0]
    assert np.max(np.abs(learned - start[:, 0, 0])) > 0.5  # the taps moved
    np.testing.assert_allclose(learned, FIR, atol=0.02)


def test_depthwise_conv1d_learns_one_monotone_kernel_per_channel():
    keras.utils.set_random_seed(5)
    x, y = fir_data(DEPTHWISE_FIR, 3, seed=5)
    layer = keras.layers.DepthwiseConv1D(
        8,
        use_bias=False,
        depthwise_constraint=Monotone(min_value=0.0),
        depthwise_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=5),
    )
    history = train_and_record(layer, x, y, lambda: layer.kernel, epochs=30)
    assert_positive_monotone(history)
    initial = history[0]
    learned = history[-1][:, :, 0]
    assert np.max(np.abs(learned - initial[:, :, 0])) > 0.3
    np.testing.assert_allclose(learned, DEPTHWISE_FIR, atol=0.02)


def test_noisy_non_monotone_teacher_ends_on_the_boundary():
    # The best unconstrained kernel dips in the middle; the constrained one
    # must pool those taps (equal neighbours) and stay feasible.
    keras.utils.set_random_seed(6)
    target = FIR.copy()
    target[3:5] = [0.5, -0.1]
    x, y = fir_data(target[:, None], 1, seed=6)
    layer = keras.layers.Conv1D(1, 8, use_bias=False, kernel_constraint=Monotone(min_value=0.0))
    history = train_and_record(layer, x, y, lambda: layer.kernel, epochs=15)
    assert_positive_monotone(history)
    learned = as_f64(history[-1][:, 0, 0])
    assert np.min(np.diff(learned)) <= 1e-7  # an active order constraint
