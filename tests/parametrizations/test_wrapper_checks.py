"""``Parametrized`` and ``parametrize``: errors at build time, penalties on f(v),
precision, distribution, and the two Keras pitfalls the docs warn about."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers as L
from keras import ops

from keras_kernel_constraints import constraints, training
from keras_kernel_constraints import parametrizations as P
from tests.helpers import needs_keras_3_4, run_python, tensorflow_only, to_numpy

pytestmark = needs_keras_3_4


class IntScale(L.Layer):
    def build(self, input_shape):
        self.steps = self.add_weight(
            shape=(3,), dtype="int32", initializer="ones", name="steps", trainable=False
        )
        self.w = self.add_weight(shape=(input_shape[-1], 3), name="w")

    def call(self, x):
        return ops.matmul(x, self.w) * ops.cast(self.steps, x.dtype)


@pytest.mark.parametrize(
    ("make", "weights", "message"),
    [
        (
            lambda: L.Dense(3, name="head"),
            {"kernal": P.SumTo(1.0)},
            r"Parametrized\('head'\) weight 'kernal' with SumTo: the Dense has no such "
            r"weight; its weights are \['bias', 'kernel'\]",
        ),
        (
            lambda: L.Dense(3, name="head"),
            {"bias": P.Orthogonal()},
            r"Parametrized\('head'\) weight 'bias' with Orthogonal needs a matrix.*"
            r"shape \(3,\)",
        ),
        (
            lambda: IntScale(name="scale"),
            {"steps": P.Positive()},
            r"Parametrized\('scale'\) weight 'steps' with Positive needs a floating-point weight; "
            "got dtype int32",
        ),
        (
            lambda: L.Conv1D(2, 3, name="fir"),
            {"kernel": P.Monotone(axis=3)},
            r"Parametrized\('fir'\) weight 'kernel' with Monotone: .*`axis`=3 is out of range",
        ),
        (
            lambda: L.Dense(3, name="head", kernel_constraint=constraints.NonNeg()),
            {"kernel": P.Positive()},
            r"Parametrized\('head'\) weight 'kernel' with Positive: the weight also has a "
            "constraint",
        ),
    ],
)
@pytest.mark.parametrize("built", [True, False], ids=["built-layer", "on-build"])
def test_a_map_that_cannot_work_raises_when_the_wrapper_is_built(make, weights, message, built):
    layer = make()
    if built:
        layer.build((None, 4, 5) if isinstance(layer, L.Conv1D) else (None, 5))
        with pytest.raises(ValueError, match=message):
            P.Parametrized(layer, weights)
        return
    wrapper = P.Parametrized(layer, weights)
    shape = (4, 5) if isinstance(layer, L.Conv1D) else (5,)
    with pytest.raises(ValueError, match=message):
        keras.Sequential([keras.Input(shape), wrapper])


def test_bad_wrapper_arguments_raise():
    with pytest.raises(ValueError, match="wraps a Keras 3 layer"):
        P.Parametrized(object(), {"kernel": P.SumTo(1.0)})
    with pytest.raises(ValueError, match="non-empty dict"):
        P.Parametrized(L.Dense(2), {})
    with pytest.raises(ValueError, match="maps weight names to maps"):
        P.Parametrized(L.Dense(2), {"kernel": constraints.SumTo(1.0)})


def test_a_penalty_on_the_parametrized_weight_applies_to_f_of_v_not_to_v():
    layer = P.Parametrized(
        L.Dense(
            3,
            bias_initializer="ones",
            kernel_regularizer=keras.regularizers.L2(1.0),
            bias_regularizer=keras.regularizers.L1(1.0),
        ),
        {"kernel": P.Simplex(axis=0)},
    )
    layer.build((None, 4))
    layer(np.ones((2, 4), "float32"))
    kernel = to_numpy(layer.effective_weight("kernel"))
    free = to_numpy(layer._free["kernel"].value)
    on_kernel, on_bias = float(np.sum(kernel**2)), 3.0
    assert len(layer.losses) == 2  # the bias penalty once, not twice
    losses = sorted(float(to_numpy(loss)) for loss in layer.losses)
    np.testing.assert_allclose(losses, sorted([on_kernel, on_bias]), rtol=1e-6)
    assert abs(float(np.sum(free**2)) - on_kernel) > 1e-3  # a penalty on v would differ


def test_a_shared_layer_adds_its_weight_penalty_once_per_step_like_a_plain_one():
    """Called three times, a weight penalty counts once (Keras's own rule), on f(v)."""
    layer = P.Parametrized(
        L.Dense(3, kernel_regularizer=keras.regularizers.L2(1.0)), {"kernel": P.SumTo(1.0)}
    )
    inputs = keras.Input((3,))
    shared = keras.Model(inputs, layer(layer(layer(inputs))))
    shared(np.ones((2, 3), "float32"))
    kernel = to_numpy(layer.effective_weight("kernel"))
    assert len(shared.losses) == 1
    np.testing.assert_allclose(float(to_numpy(shared.losses[0])), np.sum(kernel**2), rtol=1e-6)


def test_freezing_and_unfreezing_keeps_the_inner_weight_out_of_training():
    """`trainable = False` then `True` (fine-tuning) gives back the free variables only,
    and the wrapper stores each inner weight once (in the inner layer), not twice."""
    layer = P.Parametrized(L.Dense(3), {"kernel": P.SumTo(1.0)})
    model = keras.Sequential([keras.Input((4,)), layer])
    expected = sorted(v.path for v in model.trainable_weights)
    model.trainable = False
    assert model.trainable_weights == []
    model.trainable = True
    assert sorted(v.path for v in model.trainable_weights) == expected
    assert not layer.layer.kernel.trainable
    assert all(id(v) != id(layer.layer.kernel) for v in layer._trainable_variables)
    assert all(id(v) != id(layer.layer.kernel) for v in layer._non_trainable_variables)


def test_effective_weight_of_an_unknown_name_says_which_names_there_are():
    layer = P.Parametrized(L.Dense(3), {"kernel": P.SumTo(1.0)})
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"no parametrized weight 'bias'; it has \['kernel'\]"):
        layer.effective_weight("bias")


def test_the_inner_layers_own_losses_reach_the_model():
    """An activity penalty of the inner layer is added once, as the plain layer adds it."""
    dense = L.Dense(3, activity_regularizer=keras.regularizers.L2(1.0))
    x = np.ones((2, 4), "float32")
    layer = P.Parametrized(dense, {"kernel": P.SumTo(1.0, axis=0)})
    layer(x)
    wrapped = [float(to_numpy(loss)) for loss in layer.losses]
    dense.kernel.assign(layer.effective_weight("kernel"))
    dense(x)  # the plain layer with the same weights
    plain = [float(to_numpy(loss)) for loss in dense.losses]
    assert len(wrapped) == len(plain) == 1 and wrapped[0] > 0
    np.testing.assert_allclose(wrapped, plain, rtol=1e-6)


def test_a_parametrized_layer_starts_where_the_plain_layer_would():
    dense = L.Dense(4, kernel_initializer=keras.initializers.RandomUniform(0.1, 1.0))
    dense.build((None, 3))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    plain = to_numpy(dense(x))
    wrapped = P.Parametrized(dense, {"kernel": P.Positive()})
    np.testing.assert_allclose(to_numpy(wrapped(x)), plain, rtol=1e-6, atol=1e-6)


def test_mixed_precision_runs_the_map_in_float32_and_trains():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = keras.Sequential(
            [
                keras.Input((6, 2)),
                P.Parametrized(L.Conv1D(2, 3), {"kernel": P.Monotone(min_value=0.0)}),
            ]
        )
        model.compile("adam", "mse", jit_compile=keras.backend.backend() != "torch")
        x = np.random.default_rng(0).standard_normal((16, 6, 2)).astype("float32")
        y = np.ones((16, 4, 2), "float32")
        model.fit(x, y, epochs=2, verbose=0)
        layer = model.layers[0]
        kernel = layer.effective_weight("kernel")
        assert keras.backend.standardize_dtype(kernel.dtype) == "float32"
        assert keras.backend.standardize_dtype(model(x).dtype) == "float16"
        assert np.all(np.diff(to_numpy(kernel), axis=0) >= 0) and to_numpy(kernel).min() >= 0
    finally:
        keras.config.set_dtype_policy("float32")


MIRRORED = """
import json, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_kernel_constraints import parametrizations as P
x = np.random.default_rng(0).standard_normal((64, 8, 8, 2)).astype("float32")
y = np.random.default_rng(1).standard_normal((64, 6, 6, 3)).astype("float32")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
spread = {}
for name in ("plain", "parametrized"):
    with strategy.scope():
        conv = keras.layers.Conv2D(3, 3)
        if name == "parametrized":
            conv = P.Parametrized(conv, {"kernel": P.SumTo(1.0)})
        model = keras.Sequential([keras.Input((8, 8, 2)), conv])
        # jit_compile=True fails for a plain Conv2D too on two logical CPUs (TF 2.21:
        # "Trying to access resource ... located in device CPU:1 from device CPU:0").
        model.compile("adam", "mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    layer = model.layers[0]
    trained = layer._free["kernel"] if name == "parametrized" else layer.kernel
    replicas = [np.asarray(r) for r in trained.value.values]
    spread[name] = float(np.max(np.abs(replicas[0] - replicas[1])))
kernel = np.asarray(layer.effective_weight("kernel"))
print(json.dumps({"sums": kernel.sum(axis=(0, 1, 2)).tolist(), "spread": spread}))
"""


@tensorflow_only("tf.distribute.MirroredStrategy")
def test_mirrored_strategy_trains_a_parametrized_layer_like_a_plain_one():
    result = json.loads(run_python(MIRRORED).strip().splitlines()[-1])
    np.testing.assert_allclose(result["sums"], 1.0, atol=1e-6)
    # Replicas stay identical (0.0 on Keras 3.15); where a Keras lets even a
    # plain layer's replicas drift (3.4 with TF 2.16: 6e-3), no further.
    assert result["spread"]["parametrized"] <= max(result["spread"]["plain"], 0.0) * 2


# -- parametrize and bake ---------------------------------------------------


def small_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6, 2)),
            L.Conv1D(
                3,
                3,
                name="fir",
                kernel_initializer=keras.initializers.RandomUniform(0.1, 1.0),
                kernel_constraint=constraints.NonNeg(),
            ),
            L.Flatten(),
            L.Dense(2, name="head"),
        ]
    )


def test_parametrize_keeps_weights_inside_the_set_and_leaves_the_original_alone():
    model = small_model()
    x = np.random.default_rng(0).standard_normal((4, 6, 2)).astype("float32")
    before = to_numpy(model(x))
    new = training.parametrize(
        model,
        training.Rule("fir", parametrization=P.Positive(), regularizer=keras.regularizers.L2(0.5)),
    )
    layer = new.get_layer("fir")
    assert isinstance(layer, P.Parametrized) and layer.layer.kernel_constraint is None
    np.testing.assert_allclose(to_numpy(new(x)), before, rtol=1e-5, atol=1e-6)
    assert isinstance(model.get_layer("fir"), L.Conv1D) and model.get_layer("fir").kernel.trainable
    kernel = to_numpy(layer.effective_weight("kernel"))
    np.testing.assert_allclose(float(to_numpy(new.losses[0])), 0.5 * np.sum(kernel**2), rtol=1e-5)
    baked = training.bake(new)
    assert type(baked.get_layer("fir")) is L.Conv1D
    assert baked.get_layer("fir").kernel_constraint is None  # the package's NonNeg is dropped
    np.testing.assert_allclose(to_numpy(baked(x)), to_numpy(new(x)), rtol=1e-6, atol=1e-6)


def test_parametrize_and_attach_refuse_each_others_rules():
    model = small_model()
    with pytest.raises(ValueError, match="has no `parametrization`"):
        training.parametrize(model, training.Rule("fir", constraint=constraints.NonNeg()))
    with pytest.raises(ValueError, match=r"use training\.parametrize"):
        training.attach(model, training.Rule("fir", parametrization=P.Positive()))
    with pytest.raises(ValueError, match="a `parametrization` or a `constraint`, not both"):
        training.Rule("fir", constraint=constraints.NonNeg(), parametrization=P.Positive())
    with pytest.raises(ValueError, match="matched no weight"):
        training.parametrize(model, training.Rule("firr", parametrization=P.Positive()))


class Block(L.Layer):
    """A custom layer holding a Dense: clone_model copies it whole."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(2, name="inner")

    def call(self, x):
        return self.inner(x)


def test_parametrize_refuses_a_layer_hidden_inside_a_custom_layer():
    model = keras.Sequential([keras.Input((3,)), Block()])
    with pytest.raises(ValueError, match=r"cannot replace \['inner'\]: they are inside a custom"):
        training.parametrize(model, training.Rule("inner", parametrization=P.SumTo(1.0)))


class ParametrizedBlock(L.Layer):
    """A custom layer holding a Parametrized Dense: bake cannot reach it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = P.Parametrized(L.Dense(2), {"kernel": P.SumTo(1.0)}, name="inner")

    def call(self, x):
        return self.inner(x)


def test_bake_refuses_a_parametrized_layer_hidden_inside_a_custom_layer():
    """Rather than return a model that still needs this package to load."""
    model = keras.Sequential([keras.Input((3,)), ParametrizedBlock()])
    refused = r"bake\(\) cannot replace the Parametrized layers \['inner'\]"
    with pytest.raises(ValueError, match=refused):
        training.bake(model)


# -- the two pitfalls the documentation warns about ---------------------------


class NaivePositiveDense(L.Dense):
    """The LoRA route: a ``kernel`` property computing softplus of the raw variable."""

    @property
    def kernel(self):
        return ops.softplus(self._kernel)


keras.saving.register_keras_serializable("tests")(NaivePositiveDense)


def test_a_naive_kernel_property_changes_predictions_on_reload(tmp_path):
    model = keras.Sequential([keras.Input((4,)), NaivePositiveDense(3)])
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    before = to_numpy(model(x))
    model.save(tmp_path / "naive.keras")
    after = to_numpy(keras.saving.load_model(tmp_path / "naive.keras")(x))
    assert np.max(np.abs(after - before)) > 0.1  # Dense saved softplus(v) into v

    fixed = keras.Sequential(
        [keras.Input((4,)), P.Parametrized(L.Dense(3), {"kernel": P.Positive()})]
    )
    before = to_numpy(fixed(x))
    fixed.save(tmp_path / "fixed.keras")
    assert (
        np.max(np.abs(to_numpy(keras.saving.load_model(tmp_path / "fixed.keras")(x)) - before))
        == 0.0
    )


def test_keras_spectral_normalization_serves_another_kernel_than_it_trains():
    """Keras's SpectralNormalization writes W / sigma into the kernel only when
    training: the inference kernel is not normalised. An orthogonal
    parametrization is the same map in both modes, with every singular value 1."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16)).astype("float32")
    y = (x @ rng.standard_normal((16, 16)) * 3).astype("float32")

    def gap(layer):
        model = keras.Sequential([keras.Input((16,)), layer])
        model.compile(keras.optimizers.Adam(0.05), "mse")
        model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        served = to_numpy(model(x, training=False))  # first: training=True writes the kernel
        trained = to_numpy(model(x, training=True))
        return float(np.max(np.abs(trained - served)) / np.max(np.abs(trained)))

    keras_gap = gap(L.SpectralNormalization(L.Dense(16, use_bias=False)))
    ours = P.Parametrized(L.Dense(16, use_bias=False), {"kernel": P.Orthogonal()})
    our_gap = gap(ours)
    sigma = np.linalg.svd(to_numpy(ours.effective_weight("kernel")), compute_uv=False)
    assert keras_gap > 0.05, keras_gap  # measured 0.21 (TF), 2.3 (JAX), 0.23 (PyTorch)
    assert our_gap == 0.0
    np.testing.assert_allclose(sigma, 1.0, atol=1e-5)
