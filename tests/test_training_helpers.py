"""EMA under constraints, and projecting weights on demand."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Box, L2Ball, NonNeg, Simplex, SumTo, UnitSphere
from keras_kernel_constraints.training import (
    ConstraintViolation,
    ProjectedEMA,
    Rule,
    attach,
    keep_ema_feasible,
    project_now,
)
from tests.catalog import assert_catalog_feasible, catalog_model
from tests.helpers import tensorflow_only
from tests.specs import allowed, max_violation

BOX = Box(0.0, 0.1)


def box_model(optimizer, constraint=BOX, units=3):
    keras.utils.set_random_seed(4)
    layer = keras.layers.Dense(units, kernel_constraint=constraint, use_bias=False)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer, "mse", jit_compile=True)
    return model, layer


def data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(128, 4)).astype("float32")
    # Targets from weights far outside [0, 0.1], both signs: the raw updates
    # leave the box on every step.
    teacher = rng.normal(scale=5.0, size=(4, 3)).astype("float32")
    return x, x @ teacher


def test_plain_keras_ema_ends_fit_outside_the_box():
    # Keras 3.15 averages the weights before the constraint runs, then writes
    # the average back at the end of fit. If this starts failing, Keras has
    # fixed it and ProjectedEMA can become a no-op.
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True))
    model.fit(*data(), batch_size=16, epochs=3, verbose=0)
    kernel = layer.kernel.numpy()
    assert kernel.min() < -0.5 or kernel.max() > 0.6


class KernelRecorder(keras.callbacks.Callback):
    """The layer's kernel after every step.

    Reads it through ``self.model``, which on JAX first writes the step's
    state back into the variables (during ``fit`` they are detached).
    """

    def __init__(self, layer):
        super().__init__()
        self.layer, self.seen = layer, []

    def on_train_batch_end(self, batch, logs=None):
        assert self.model is not None  # syncs the state on JAX
        self.seen.append(self.layer.kernel.numpy().copy())


def test_projected_ema_keeps_the_average_of_projected_weights():
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.9))
    record = KernelRecorder(layer)
    model.fit(*data(), batch_size=16, epochs=2, verbose=0, callbacks=[ProjectedEMA(), record])
    seen = record.seen
    kernel = layer.kernel.numpy()
    assert kernel.min() >= 0.0 and kernel.max() <= np.float32(0.1)
    # The weights after each step are projected; their EMA (momentum 0 on
    # the first step, as Keras does) is what fit must end with.
    average = seen[0].astype(np.float64)
    for weights in seen[1:]:
        average = 0.9 * average + 0.1 * weights
    np.testing.assert_allclose(kernel, average, atol=2e-6)


def test_projected_ema_puts_non_convex_averages_back_on_the_sphere():
    optimizer = keras.optimizers.SGD(0.5, use_ema=True, ema_overwrite_frequency=5)
    model, layer = box_model(optimizer, UnitSphere(axis=0))
    norms_each_epoch = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: norms_each_epoch.append(
            np.linalg.norm(layer.kernel.numpy(), axis=0)
        )
    )
    model.fit(*data(), batch_size=16, epochs=3, verbose=0, callbacks=[ProjectedEMA(), record])
    for norms in [*norms_each_epoch, np.linalg.norm(layer.kernel.numpy(), axis=0)]:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


def test_projected_ema_works_when_added_on_a_later_fit():
    # On JAX the first fit (plain Keras) leaves each weight sharing a buffer
    # with its average, which made the second fit fail before ProjectedEMA
    # gave every weight its own.
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True))
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # traces the step without it
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ProjectedEMA()])
    kernel = layer.kernel.numpy()
    assert kernel.min() >= 0.0 and kernel.max() <= np.float32(0.1)


def test_projected_ema_fits_again_and_again():
    model, layer = box_model(keras.optimizers.Adam(0.1, use_ema=True))
    x, y = data()
    for _ in range(3):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ProjectedEMA()])
        kernel = layer.kernel.numpy()
        assert kernel.min() >= 0.0 and kernel.max() <= np.float32(0.1)


def test_keep_ema_feasible_unwraps_loss_scaling_and_is_idempotent():
    inner = keras.optimizers.Adam(0.1, use_ema=True)
    scaled = keras.optimizers.LossScaleOptimizer(inner)
    assert keep_ema_feasible(scaled) is inner
    patched = inner._update_model_variables_moving_average
    keep_ema_feasible(scaled)
    assert inner._update_model_variables_moving_average is patched
    model, layer = box_model(scaled)
    model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    assert layer.kernel.numpy().min() >= 0.0 and layer.kernel.numpy().max() <= np.float32(0.1)


def test_keep_ema_feasible_says_clearly_when_keras_internals_change():
    class Bare:
        pass

    with pytest.raises(RuntimeError, match="EMA fix needs updating"):
        keep_ema_feasible(Bare())


def test_projected_ema_is_a_no_op_without_ema():
    model, _ = box_model(keras.optimizers.Adam(0.1))
    model.fit(*data(), batch_size=16, epochs=1, verbose=0, callbacks=[ProjectedEMA()])
    assert not getattr(model.optimizer, "_kkc_ema_feasible", False)


def test_project_now_takes_a_model_or_variables():
    model, layer = box_model(keras.optimizers.SGD(), NonNeg())
    layer.kernel.assign(-np.ones((4, 3)))
    extra = keras.Variable(np.array([-2.0, 3.0]))
    extra.constraint = NonNeg()  # keras.Variable(constraint=...) is silently ignored (3.15)
    free = keras.Variable(np.array([-2.0]))
    assert project_now(model) == [layer.kernel]
    assert layer.kernel.numpy().min() == 0.0
    assert project_now([extra, free]) == [extra]
    np.testing.assert_array_equal(extra.numpy(), [0.0, 3.0])
    np.testing.assert_array_equal(free.numpy(), [-2.0])


@pytest.mark.parametrize("momentum", [0.5, 0.99])
@pytest.mark.parametrize("fixed", [True, False])
def test_stored_averages_stay_in_a_convex_set_only_with_the_fix(momentum, fixed):
    # Step 1 of keep_ema_feasible is why convex sets need nothing more: the
    # optimizer's stored averages are convex combinations of projected
    # weights. Without it they average unprojected weights and leave the box.
    optimizer = keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=momentum)
    if fixed:
        keep_ema_feasible(optimizer)
    model, _ = box_model(optimizer)
    model.fit(*data(), batch_size=16, epochs=2, verbose=0)
    (average,) = [v.numpy() for v in optimizer._model_variables_moving_average]
    inside = average.min() >= 0.0 and average.max() <= np.float32(0.1)
    assert inside == fixed, (average.min(), average.max())


def catalog_data():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(64, 6)).astype("float32")
    return x, rng.normal(scale=3.0, size=(64, 6)).astype("float32")


def catalog_kernels(model):
    return {layer.name: layer.kernel.numpy() for layer in model.layers}


def test_projected_ema_keeps_every_constraint_feasible():
    model = catalog_model()
    model.compile(keras.optimizers.Adam(0.05, use_ema=True), "mse", jit_compile=True)
    model.fit(*catalog_data(), batch_size=16, epochs=2, verbose=0, callbacks=[ProjectedEMA()])
    assert_catalog_feasible(catalog_kernels(model))


def test_gradient_accumulation_keeps_every_constraint_feasible_and_matches():
    x, y = catalog_data()
    runs = []
    for batch_size, steps in ((32, None), (8, 4)):
        model = catalog_model()
        project_now(model)
        model.compile(keras.optimizers.SGD(0.02, gradient_accumulation_steps=steps), "mse")
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        runs.append(catalog_kernels(model))
    assert_catalog_feasible(runs[1])
    for name in runs[0]:
        np.testing.assert_allclose(runs[1][name], runs[0][name], atol=1e-5)


@pytest.mark.parametrize("constraint", [BOX, Simplex(axis=0), UnitSphere(axis=0)], ids=repr)
def test_gradient_accumulation_matches_the_unaccumulated_run(constraint):
    # Keras runs constraints on every micro-step; idempotent projections make
    # the extra calls harmless, so 4 micro-batches of 8 equal one batch of 32.
    # Both runs start feasible: otherwise the accumulated run projects the
    # initial weights on its first micro-step, before any update, and the
    # plain run projects them only after the first update.
    x, y = data()
    kernels = []
    for batch_size, steps in ((32, None), (8, 4)):
        optimizer = keras.optimizers.SGD(0.05, gradient_accumulation_steps=steps)
        model, layer = box_model(optimizer, constraint)
        project_now(model)
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        kernels.append(layer.kernel.numpy())
    np.testing.assert_allclose(kernels[1], kernels[0], atol=2e-6)
    assert max_violation(constraint, kernels[1]) <= allowed(constraint, kernels[1])
    untrained = box_model(keras.optimizers.SGD(), constraint)[1].kernel.numpy()
    assert not np.allclose(kernels[1], constraint(untrained))  # training moved it


# -- attach: constraints and regularizers on an already built model ------------


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

    def call(self, x):
        return x * self.gain


class Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = Scale(name="scale")

    def build(self, input_shape):
        self.scale.build(input_shape)

    def call(self, x):
        return self.scale(x)


def built_model():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    h = keras.layers.DepthwiseConv2D(3, name="depthwise")(h)
    h = keras.layers.Flatten()(h)
    h = Block(name="block")(h)
    outputs = keras.layers.Dense(2, name="head")(h)
    return keras.Model(inputs, outputs)


def test_attach_sets_constraints_and_penalties_that_take_effect():
    model = built_model()
    x = np.random.default_rng(5).normal(size=(32, 8, 8, 2)).astype("float32")
    y = np.full((32, 2), 10.0, "float32")
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, y, epochs=1, verbose=0)  # trace a step without constraints
    assert model.losses == []

    changed = attach(
        model,
        [
            Rule("head", ("kernel", "bias"), constraint=NonNeg(), regularizer="non_neg_penalty"),
            Rule(keras.layers.Conv2D, "kernel", SumTo(1.0), regularizer=SumTo().penalty(1.0)),
            {"layers": lambda layer: layer.name == "scale", "weights": "gain", "constraint": BOX},
            Rule("depthwise", "kernel", constraint=L2Ball(0.5)),
        ],
    )
    expected = ["head/kernel", "head/bias", "conv/kernel", "block/scale/gain", "depthwise/kernel"]
    assert len(changed) == len(expected)
    assert all(v.path.endswith(path) for v, path in zip(changed, expected, strict=True))
    head, conv = model.get_layer("head"), model.get_layer("conv")
    assert head.kernel.constraint == NonNeg() and head.bias.regularizer is not None
    assert head.kernel_constraint == NonNeg() and conv.kernel_regularizer == SumTo().penalty(1.0)
    assert model.get_layer("depthwise").depthwise_constraint == L2Ball(0.5)
    assert len(model.losses) == 3 and sum(float(loss) for loss in model.losses) > 0

    model.fit(x, y, epochs=2, verbose=0)
    assert head.kernel.numpy().min() >= 0.0 and head.bias.numpy().min() >= 0.0
    np.testing.assert_allclose(conv.kernel.numpy().sum(axis=(0, 1, 2)), 1.0, atol=1e-5)
    gain = model.get_layer("block").scale.gain.numpy()
    assert gain.min() >= 0.0 and gain.max() <= np.float32(0.1)
    depthwise = model.get_layer("depthwise").kernel.numpy()
    assert np.linalg.norm(depthwise.reshape(-1, 3), axis=0).max() <= 0.5 * (1 + 1e-6)


def test_attached_objects_are_saved_in_the_layer_config(tmp_path):
    model = built_model()
    attach(
        model,
        Rule(keras.layers.Dense, "kernel", constraint=NonNeg(), regularizer=NonNeg().penalty(0.1)),
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(
        tmp_path / "m.keras", custom_objects={"Block": Block, "Scale": Scale}
    )
    assert loaded.get_layer("head").kernel.constraint == NonNeg()
    assert loaded.get_layer("head").kernel.regularizer == NonNeg().penalty(0.1)


@pytest.mark.parametrize(
    "rules, message",
    [
        (Rule("haed", "kernel", NonNeg()), r"Rule 0 \('haed', weights \['kernel'\]\) matched no"),
        (Rule("head", "kernal", NonNeg()), "matched no weight"),
        (Rule(keras.layers.Embedding, "embeddings", NonNeg()), "matched no weight"),
    ],
)
def test_attach_fails_loudly_when_a_rule_matches_nothing(rules, message):
    with pytest.raises(ValueError, match=message):
        attach(built_model(), rules)


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: Rule("head", "kernel"), "constraint"),
        (lambda: Rule(3, "kernel", NonNeg()), "layers"),
        (lambda: Rule("head", [], NonNeg()), "weights"),
        (lambda: Rule("head", "kernel", "not_a_constraint"), "constraint name"),
    ],
)
def test_bad_rules_raise_value_error(make, parameter):
    with pytest.raises(ValueError, match=parameter):
        make()


def test_attach_needs_a_built_model():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="needs a built model"):
        attach(model, Rule(keras.layers.Dense, "kernel", NonNeg()))


# -- ConstraintViolation: monitoring in the fit history ---------------------------


class WithUnusedWeight(keras.layers.Layer):
    """A weight that gets no gradient: Keras then skips its constraint."""

    def build(self, input_shape):
        self.unused = self.add_weight(
            shape=(3,),
            initializer=keras.initializers.Constant(-1.0),
            constraint=NonNeg(),
            name="unused",
        )

    def call(self, x):
        return x


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_constraint_violation_is_zero_when_projections_apply_and_reports_gaps():
    model, layer = box_model(keras.optimizers.Adam(0.1))
    history = model.fit(
        *data(), batch_size=16, epochs=2, verbose=0, callbacks=[ConstraintViolation()]
    )
    assert history.history["violation/max"] == [0.0, 0.0]
    assert history.history[f"violation/{layer.kernel.path}"] == [0.0, 0.0]

    keras.utils.set_random_seed(4)
    gap = WithUnusedWeight()
    model = keras.Sequential([keras.Input((4,)), gap, keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    history = model.fit(
        *data(), batch_size=16, epochs=1, verbose=0, callbacks=[ConstraintViolation()]
    )
    # TensorFlow and PyTorch give the unused weight no gradient, and Keras
    # skips its constraint: it stays at -1, 3**0.5 from the set. JAX
    # differentiates with respect to every trainable variable (a zero
    # gradient here), so the optimizer projects it like any other.
    expected = 0.0 if keras.backend.backend() == "jax" else 3**0.5
    np.testing.assert_allclose(history.history[f"violation/{gap.unused.path}"], [expected])
    np.testing.assert_allclose(history.history["violation/max"], [expected])
    np.testing.assert_allclose(gap.unused.numpy(), -1.0 if expected else 0.0)


@tensorflow_only("reads TensorBoard event files with tf.compat.v1")
def test_constraint_violation_reaches_tensorboard(tmp_path):
    import tensorflow as tf

    model, _ = box_model(keras.optimizers.Adam(0.1))
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    model.fit(*data(), batch_size=16, epochs=2, verbose=0, callbacks=[ConstraintViolation(), board])
    tags = set()
    for event_file in (tmp_path / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    assert "epoch_violation/max" in tags


def test_attach_reaches_embeddings():
    keras.utils.set_random_seed(3)
    embed = keras.layers.Embedding(20, 4, name="embed")
    model = keras.Sequential(
        [keras.Input((3,), dtype="int32"), embed, keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    attach(model, Rule(keras.layers.Embedding, "embeddings", constraint=UnitSphere(axis=-1)))
    assert embed.embeddings_constraint == UnitSphere(axis=-1)
    rng = np.random.default_rng(3)
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(
        rng.integers(0, 20, size=(64, 3)).astype("int32"),
        rng.normal(size=(64, 1)).astype("float32"),
        epochs=1,
        verbose=0,
    )
    np.testing.assert_allclose(np.linalg.norm(embed.embeddings.numpy(), axis=1), 1.0, rtol=1e-6)


def test_constraint_violation_logs_an_intersections_residual():
    from keras_kernel_constraints.constraints import Intersect, Simplex, SumTo

    def fit(sweeps):
        keras.utils.set_random_seed(4)
        # Columns on the simplex and rows summing to 1 (a 4 x 4 kernel): no rule joins
        # them, so Dykstra runs, and two sweeps leave the first member unmet.
        joined = Intersect(Simplex(axis=0), SumTo(1.0, axis=1), sweeps=sweeps)
        layer = keras.layers.Dense(4, kernel_constraint=joined)
        model = keras.Sequential([keras.Input((4,)), layer])
        model.compile(keras.optimizers.Adam(0.1), "mse")
        x, _ = data()
        history = model.fit(
            x, x[:, ::-1], batch_size=16, epochs=1, verbose=0, callbacks=[ConstraintViolation()]
        )
        (residual,) = [v for k, v in history.history.items() if k.startswith("residual/")]
        return residual[0]

    assert fit(2) > 1e-3
    assert fit(1000) <= 1e-5
