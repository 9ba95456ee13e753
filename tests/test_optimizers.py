"""``optimizers.Projected``: constrained variables step along their sets (issue 18)."""

import keras
import numpy as np
import pytest
import scipy.linalg
from keras import ops

from keras_kernel_constraints import constraints as kc
from keras_kernel_constraints.optimizers import Projected
from tests.helpers import run_python, tensorflow_only

JIT = keras.backend.backend() != "torch"  # PyTorch's default: eager steps


def _sphere_fit(wrap):
    """A unit-sphere Dense kernel fitted with ``wrap(Adam)``; the worst |cos(m, w)|
    over the run."""
    layer, model, adam, x, y = _sphere_problem(128)
    model.compile(wrap(adam), "mse", jit_compile=JIT)
    worst = 0.0
    for _ in range(4):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        worst = max(worst, _moment_cosine(layer, adam))
    return worst


def _sphere_problem(samples):
    """A unit-sphere Dense kernel, its model, a bare Adam, and ``samples`` of data."""
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, use_bias=False, kernel_constraint=kc.UnitSphere())
    model = keras.Sequential([keras.Input((8,)), layer])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) * 3).astype("float32")
    return layer, model, keras.optimizers.Adam(0.05), x, y


def _moment_cosine(layer, adam):
    """|cos(m, w)| of the kernel and Adam's first moment of it."""
    w = ops.convert_to_numpy(layer.kernel).ravel().astype(np.float64)
    m = ops.convert_to_numpy(adam._momentums[0]).ravel().astype(np.float64)
    return abs(m @ w) / (np.linalg.norm(m) * np.linalg.norm(w))


def test_adams_first_moment_stays_tangent_to_a_sphere_only_when_wrapped():
    assert _sphere_fit(Projected) <= 1e-6
    assert _sphere_fit(lambda adam: adam) >= 0.1


LOSS_SCALED = {
    "LossScaleOptimizer(Projected(Adam))": lambda a: keras.optimizers.LossScaleOptimizer(
        Projected(a)
    ),
    "Projected(LossScaleOptimizer(Adam))": lambda a: Projected(
        keras.optimizers.LossScaleOptimizer(a)
    ),
}


@pytest.mark.parametrize("name", sorted(LOSS_SCALED))
def test_loss_scaling_around_or_inside_keeps_the_moment_tangent(name):
    assert _sphere_fit(LOSS_SCALED[name]) <= 1e-6


def test_a_mixed_precision_model_keeps_the_moment_tangent():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        assert _sphere_fit(Projected) <= 1e-6
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _custom_loop_worst_cosine(wrap, steps=12):
    """``_sphere_fit`` in a custom loop on the active backend, compiled where it
    can be (``tf.function(jit_compile=True)``, ``jax.jit`` of ``stateless_apply``;
    PyTorch eagerly): the worst |cos(m, w)| after each step."""
    layer, model, adam, x, y = _sphere_problem(32)
    optimizer = wrap(adam)
    variables = model.trainable_variables
    optimizer.build(variables)

    target = ops.convert_to_tensor(y)

    def loss_of(prediction):
        return ops.mean(ops.square(prediction - target))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step():
            with tf.GradientTape() as tape:
                loss = loss_of(model(x))
            optimizer.apply(tape.gradient(loss, variables), variables)

    elif backend == "jax":
        import jax

        def loss_and_state(trainable, non_trainable):
            prediction, non_trainable = model.stateless_call(trainable, non_trainable, x)
            return loss_of(prediction), non_trainable

        @jax.jit
        def stateless_step(trainable, non_trainable, optimizer_state):
            grads, _ = jax.grad(loss_and_state, has_aux=True)(trainable, non_trainable)
            return optimizer.stateless_apply(optimizer_state, grads, trainable)

        def step():
            state = [v.value for v in optimizer.variables]
            trainable, state = stateless_step(
                [v.value for v in variables],
                [v.value for v in model.non_trainable_variables],
                state,
            )
            for variable, value in zip(
                variables + optimizer.variables, trainable + state, strict=True
            ):
                variable.assign(value)

    else:
        import torch

        def step():
            model.zero_grad()
            loss_of(model(x)).backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)

    worst = 0.0
    for _ in range(steps):
        step()
        assert abs(np.linalg.norm(ops.convert_to_numpy(layer.kernel)) - 1.0) <= 1e-5
        worst = max(worst, _moment_cosine(layer, adam))
    return worst


def test_a_custom_loop_keeps_the_moment_tangent_only_when_wrapped():
    assert _custom_loop_worst_cosine(Projected) <= 1e-6
    assert _custom_loop_worst_cosine(lambda adam: adam) >= 0.1


class _Linear(keras.layers.Layer):
    """``loss = sum(slope * w)``: a constant gradient ``slope`` on a weight at 0."""

    def __init__(self, constraint, **kwargs):
        super().__init__(**kwargs)
        self.constraint = constraint

    def build(self, _):
        self.w = self.add_weight(
            shape=(3,), initializer="zeros", constraint=self.constraint, name="w"
        )

    def call(self, slope):
        return ops.sum(slope * self.w, axis=-1, keepdims=True)


@pytest.mark.parametrize("constraint", [kc.NonNeg(), kc.Box(0.0, 1.0)], ids=repr)
def test_at_a_bound_an_inward_pull_leaves_it_and_an_outward_push_leaves_no_momentum(constraint):
    layer = _Linear(constraint)
    model = keras.Sequential([keras.Input((3,)), layer])
    adam = keras.optimizers.Adam(0.1)
    model.compile(Projected(adam), lambda _, p: ops.mean(p), jit_compile=JIT)
    # Gradient -1 pulls w[0] up (inward), +1 pushes w[1] down (outward), 0 leaves w[2].
    slope = np.array([[-1.0, 1.0, 0.0]], "float32")
    model.train_on_batch(slope, slope)
    w = layer.w.numpy()
    m = np.asarray(adam._momentums[0])
    assert w[0] > 0.0
    assert w[1] == 0.0 and m[1] == 0.0
    assert w[2] == 0.0 and m[2] == 0.0
    # Unwrapped, the outward push builds momentum that the projection hides.
    plain_layer = _Linear(constraint)
    plain = keras.Sequential([keras.Input((3,)), plain_layer])
    plain_adam = keras.optimizers.Adam(0.1)
    plain.compile(plain_adam, lambda _, p: ops.mean(p), jit_compile=JIT)
    plain.train_on_batch(slope, slope)
    assert plain_layer.w.numpy()[1] == 0.0 and np.asarray(plain_adam._momentums[0])[1] > 0.0


def _rayleigh_steps(wrapped, steps=600):
    """Steps until an Orthogonal (20, 3) weight spans the leading eigenvectors of
    a fixed symmetric matrix (largest principal angle <= 1e-3), or None."""
    n, k = 20, 3
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = (q * np.concatenate([[5.0, 4.5, 4.0], np.linspace(3.0, 0.1, n - 3)])) @ q.T
    leading = np.linalg.eigh(a)[1][:, -k:]

    class Rayleigh(keras.layers.Layer):
        def build(self, _):
            self.w = self.add_weight(
                shape=(n, k), initializer="orthogonal", constraint=kc.Orthogonal(), name="w"
            )

        def call(self, x):
            aw = ops.matmul(ops.convert_to_tensor(a, "float32"), self.w)
            return ops.reshape(ops.sum(self.w * aw), (1, 1)) + 0.0 * x

    keras.utils.set_random_seed(1)
    layer = Rayleigh()
    model = keras.Sequential([keras.Input((1,)), layer])
    adam = keras.optimizers.Adam(0.03)
    model.compile(Projected(adam) if wrapped else adam, lambda _, p: -ops.mean(p), jit_compile=JIT)
    x = np.zeros((1, 1), "float32")
    for step in range(1, steps + 1):
        model.train_on_batch(x, x)
        if step % 10 == 0:
            angles = scipy.linalg.subspace_angles(layer.w.numpy().astype(np.float64), leading)
            if angles.max() <= 1e-3:
                return step
    return None


@pytest.mark.slow
def test_a_stiefel_weight_finds_the_leading_eigenvectors_faster_than_projection_alone():
    wrapped = _rayleigh_steps(wrapped=True)
    assert wrapped is not None and wrapped <= 400, wrapped
    plain = _rayleigh_steps(wrapped=False)
    assert plain is None or plain > 2 * wrapped, (plain, wrapped)


def test_the_config_round_trips_and_the_wrapper_delegates():
    inner = keras.optimizers.Adam(0.01, beta_1=0.8)
    wrapped = Projected(inner, transport=False, name="projected_adam")
    copy = Projected.from_config(wrapped.get_config())
    assert copy.transport is False and copy.name == "projected_adam"
    assert copy.inner_optimizer.get_config() == inner.get_config()
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(wrapped))
    assert isinstance(restored, Projected)
    assert float(np.asarray(wrapped.learning_rate)) == pytest.approx(0.01)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="`transport` must be True or False"):
        Projected("adam", transport=1)


# A fresh interpreter that imports the package and passes no custom_objects;
# the loaded model keeps training.
RESUME = r"""
import json, sys
import keras, numpy as np
import keras_kernel_constraints
model = keras.saving.load_model(sys.argv[1])
optimizer = model.optimizer
kernel = model.layers[0].kernel
momentum = optimizer.inner_optimizer._momentums[0]
report = {
    "optimizer": type(optimizer).__name__,
    "inner": type(optimizer.inner_optimizer).__name__,
    "transport": optimizer.transport,
    "iterations": int(optimizer.iterations.numpy()),
    "momentum": np.asarray(momentum).ravel().tolist(),
}
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 8)).astype("float32")
model.fit(x, x[:, :1] * 2, batch_size=16, epochs=1, verbose=0)
w = np.asarray(kernel.numpy(), np.float64).ravel()
m = np.asarray(momentum, np.float64).ravel()
report.update(
    norm=float(np.linalg.norm(w)),
    cosine=float(abs(m @ w) / (np.linalg.norm(m) * np.linalg.norm(w))),
    after=int(optimizer.iterations.numpy()),
)
print(json.dumps(report))
"""


@pytest.mark.slow
def test_a_saved_model_with_the_wrapper_loads_in_a_fresh_process_and_keeps_training(tmp_path):
    import json

    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, use_bias=False, kernel_constraint=kc.UnitSphere())
    model = keras.Sequential([keras.Input((8,)), layer])
    model.compile(Projected(keras.optimizers.Adam(0.05)), "mse", jit_compile=JIT)
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    model.fit(x, x[:, :1], batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "projected.keras")
    model.save(path)
    report = json.loads(run_python(RESUME, path))
    assert report["optimizer"] == "Projected" and report["inner"] == "Adam"
    assert report["transport"] is True and report["iterations"] == 4
    saved = np.asarray(model.optimizer.inner_optimizer._momentums[0]).ravel()
    np.testing.assert_array_equal(report["momentum"], saved)
    assert report["after"] == 8
    assert abs(report["norm"] - 1.0) <= 1e-6 and report["cosine"] <= 1e-6


# Logical devices must be set before TensorFlow starts, hence a fresh process.
MIRRORED = r"""
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from keras_kernel_constraints import constraints as kc
from keras_kernel_constraints.optimizers import Projected

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 2)) * 3).astype("float32")
report = {}
for name, strategy in (("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
                       ("single", tf.distribute.get_strategy())):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(4, kernel_constraint=kc.Box(-0.2, 0.2)),
            keras.layers.Dense(2, use_bias=False, kernel_constraint=kc.UnitSphere()),
        ])
        adam = keras.optimizers.Adam(0.05)
        model.compile(Projected(adam), "mse")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    replicas = lambda v: [np.asarray(r).tolist() for r in getattr(v.value, "values", [v.value])]
    report[name] = [replicas(v) for v in model.trainable_variables]
    report[name + " moment"] = replicas(adam._momentums[2])
print(json.dumps(report))
"""


@pytest.mark.slow
@tensorflow_only("tf.distribute.MirroredStrategy")
def test_mirrored_replicas_step_as_one_device_does():
    """A bound's tangent is not linear in the gradient: it must act on the sum of
    the replicas' parts, or two replicas step differently from one device."""
    import json

    report = json.loads(run_python(MIRRORED))
    for mirrored, single in zip(report["mirrored"], report["single"], strict=True):
        first, second = (np.asarray(r) for r in mirrored)
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, np.asarray(single[0]), rtol=0, atol=1e-6)
    w = np.asarray(report["mirrored"][2][0])
    m = np.asarray(report["mirrored moment"][0])
    cosine = np.abs(np.sum(m * w, axis=0)) / (np.linalg.norm(m, axis=0) * np.linalg.norm(w, axis=0))
    assert cosine.max() <= 1e-6


@pytest.mark.skipif(
    not hasattr(keras.optimizers, "OptimizerMap"), reason="keras.optimizers.OptimizerMap is newer"
)
def test_only_the_mapped_variables_use_the_wrapper_in_an_optimizer_map():
    keras.utils.set_random_seed(0)
    sphere = keras.layers.Dense(2, use_bias=False, kernel_constraint=kc.UnitSphere(), name="sphere")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="free"), sphere])
    inner = keras.optimizers.Adam(0.05)
    routed = keras.optimizers.OptimizerMap(
        keras.optimizers.Adam(0.05), {".*sphere/.*": Projected(inner)}
    )
    model.compile(keras.optimizers.MultiOptimizer(routed), "mse", jit_compile=JIT)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    model.fit(x, x[:, :2] * 3, batch_size=16, epochs=2, verbose=0)
    assert len(inner._momentums) == 1  # the sphere's kernel alone
    w = np.asarray(sphere.kernel.numpy(), np.float64)
    m = np.asarray(inner._momentums[0], np.float64)
    cosine = np.abs(np.sum(m * w, axis=0)) / (np.linalg.norm(m, axis=0) * np.linalg.norm(w, axis=0))
    assert cosine.max() <= 1e-6
