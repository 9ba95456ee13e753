"""Constraints and penalties inside real models trained with ``jit_compile=True``."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_kernel_constraints.constraints import (
    Box,
    CappedSimplex,
    Convex,
    Intersect,
    L1Ball,
    L2Ball,
    LinfBall,
    Monotone,
    NonNeg,
    NormBand,
    Orthogonal,
    Simplex,
    SpectralBall,
    SumTo,
    Unimodal,
    UnitSphere,
)
from tests.helpers import as_f64, sum_tolerance
from tests.specs import allowed, max_violation, touches_boundary

pytestmark = pytest.mark.slow  # jit-compiled fits of every constraint in every layer kind

SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32")


class ConstrainedScale(keras.layers.Layer):
    """A custom layer whose weight comes from ``add_weight(constraint=...)``."""

    def __init__(self, units, constraint=None, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.constraint, self.regularizer = units, constraint, regularizer

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="glorot_uniform",
            constraint=self.constraint,
            regularizer=self.regularizer,
            name="w",
        )

    def call(self, x):
        return ops.matmul(x, self.w)


class Wrapper(keras.layers.Layer):
    """Nests the custom layer, so its penalty must be collected from below."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        return self.inner(x)


def dense(c, r):
    return (6,), keras.layers.Dense(4, kernel_constraint=c, kernel_regularizer=r), "kernel"


def conv1d(c, r):
    return (12, 2), keras.layers.Conv1D(3, 3, kernel_constraint=c, kernel_regularizer=r), "kernel"


def conv2d(c, r):
    return (8, 8, 2), keras.layers.Conv2D(3, 3, kernel_constraint=c, kernel_regularizer=r), "kernel"


def conv2d_transpose(c, r):
    layer = keras.layers.Conv2DTranspose(3, 3, kernel_constraint=c, kernel_regularizer=r)
    return (6, 6, 2), layer, "kernel"


def depthwise(c, r):
    layer = keras.layers.DepthwiseConv2D(
        3, depth_multiplier=2, depthwise_constraint=c, depthwise_regularizer=r
    )
    return (8, 8, 2), layer, "kernel"


def custom(c, r):
    return (5,), Wrapper(ConstrainedScale(3, constraint=c, regularizer=r)), "inner.w"


LAYERS = [dense, conv1d, conv2d, conv2d_transpose, depthwise, custom]
CONSTRAINTS = [
    NonNeg(),
    Box(-0.05, 0.05),
    SumTo(1.0),
    Simplex(),
    CappedSimplex(1.0, 0.0, 0.2),
    L1Ball(0.5),
    L2Ball(0.5),
    UnitSphere(),
    NormBand(0.5, 0.8),
    LinfBall(0.05),
    Monotone(min_value=0.0),
    Orthogonal(),
    SpectralBall(0.5),
    # Issue 17's sets: loops whose length depends on the weight (Convex), and
    # an intersection, under every layer kind and every compiler
    # (torch.compile on PyTorch).
    Convex(),
    Unimodal(),
    Intersect(SumTo(1.0), Box(-1.0, 5.0)),
]


def variable_of(layer, path):
    for name in path.split("."):
        layer = getattr(layer, name)
    return layer


def check_feasible(constraint, w):
    """Assert ``w`` is in the set, and on its boundary (the projection acted)."""
    assert max_violation(constraint, w) <= allowed(constraint, w)
    assert touches_boundary(constraint, w)


def penalty_total(model):
    return float(sum(np.sum(as_f64(loss)) for loss in model.losses))


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
@pytest.mark.parametrize("make_layer", LAYERS, ids=lambda f: f.__name__)
def test_layer_trains_under_xla_and_stays_feasible(make_layer, constraint):
    keras.utils.set_random_seed(1)
    penalty = constraint.penalty(strength=0.01)
    input_shape, layer, path = make_layer(constraint, penalty)
    model = keras.Sequential([keras.Input(input_shape), layer])
    variable = variable_of(layer, path)
    assert variable.constraint is constraint  # guards keras#18883
    assert variable.regularizer is penalty
    assert len(model.losses) == 1 and penalty_total(model) > 0.0  # glorot init is infeasible

    # Targets from a teacher with large weights: the unconstrained optimum is
    # far outside every set, so the projection has to act on every step.
    _, teacher_layer, _ = make_layer(None, None)
    teacher = keras.Sequential([keras.Input(input_shape), teacher_layer])
    for mine, theirs in zip(model.trainable_variables, teacher.trainable_variables, strict=True):
        theirs.assign(mine * 5.0 + 0.5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, *input_shape)).astype("float32")
    y = teacher.predict(x, verbose=0)
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)

    w = variable.numpy()
    check_feasible(constraint, w)
    assert penalty_total(model) <= 0.01 * 1e-5  # zero up to float32 rounding


ROW_WISE = [Simplex(axis=-1), UnitSphere(axis=-1), L2Ball(0.5, axis=-1)]
WHOLE_TABLE = [Orthogonal(), SpectralBall(0.5)]


@pytest.mark.parametrize("constraint", ROW_WISE + WHOLE_TABLE, ids=repr)
def test_embedding_rows_stay_feasible_under_sparse_updates(constraint):
    keras.utils.set_random_seed(2)
    embed = keras.layers.Embedding(
        50, 6, embeddings_constraint=constraint, embeddings_regularizer=constraint.penalty(0.01)
    )
    model = keras.Sequential(
        [keras.Input((4,), dtype="int32"), embed, keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 50, size=(128, 4)).astype("int32")
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(ids, rng.normal(size=(128, 1)).astype("float32"), batch_size=16, epochs=2, verbose=0)
    table = embed.embeddings.numpy()
    assert max_violation(constraint, table) <= allowed(constraint, table)
    assert penalty_total(model) <= 1e-6


def test_dense_bias_constraint_applies_to_the_whole_vector():
    layer = keras.layers.Dense(5, bias_constraint=SumTo(0.0), bias_initializer="ones")
    model = keras.Sequential([keras.Input((3,)), layer])
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    model.fit(np.ones((8, 3), "float32"), np.arange(40, dtype="float32").reshape(8, 5), verbose=0)
    bias = layer.bias.numpy()
    assert abs(bias.astype(np.float64).sum()) <= 1e-5
    assert np.ptp(bias) > 0.1  # entries moved freely, only their sum is fixed


def test_sharpening_kernel_is_recovered_and_sums_to_one_every_epoch():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(128, 12, 12, 1)).astype("float32")
    targets = np.asarray(ops.conv(images, SHARPEN[:, :, None, None], padding="valid"))
    layer = keras.layers.Conv2D(1, 3, use_bias=False, kernel_constraint=SumTo(1.0))
    model = keras.Sequential([keras.Input((12, 12, 1)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    sums = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: sums.append(layer.kernel.numpy().astype(np.float64).sum())
    )
    model.fit(images, targets, batch_size=16, epochs=25, verbose=0, callbacks=[record])
    kernel = layer.kernel.numpy()[:, :, 0, 0]
    assert len(sums) == 25
    assert max(abs(s - 1.0) for s in sums) <= sum_tolerance("float32", 9, 5.0)
    assert np.max(np.abs(kernel - SHARPEN)) <= 0.05


def test_axis_that_does_not_fit_fails_fit_with_a_clear_error():
    dense = keras.layers.Dense(3, kernel_constraint=SumTo(axis=2))
    model = keras.Sequential([keras.Input((4,)), dense])
    model.compile("sgd", "mse", jit_compile=True)
    message = r"SumTo: `axis`=2 is out of range for a weight of shape \(4, 3\)"
    with pytest.raises(ValueError, match=message):
        model.fit(np.ones((4, 4), "float32"), np.ones((4, 3), "float32"), verbose=0)


@pytest.mark.slow
def test_sgd_reaches_the_constrained_optimum_where_adam_stops_short():
    # docs/pitfalls.md quotes this run: the demo's FIR problem.
    from sklearn.isotonic import isotonic_regression

    fir = np.array([0.05, 0.1, 0.3, 0.3, 0.3, 0.3, 0.6, 0.8], "float32")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 20, 1)).astype("float32")
    windows = np.array([seq[t : t + 8, 0] for seq in x for t in range(13)])
    y = (windows @ fir).reshape(2, 13, 1) + rng.normal(size=(2, 13, 1)).astype("float32")

    # The constrained least-squares optimum, independently: projected
    # gradient descent in float64 with scikit-learn's isotonic regression.
    optimum, target = np.zeros(8), y.reshape(-1).astype("float64")
    step = 1.0 / np.linalg.eigvalsh(windows.T @ windows).max()
    for _ in range(5000):
        optimum -= step * windows.T @ (windows @ optimum - target)
        optimum = np.maximum(isotonic_regression(optimum), 0.0)

    def mse(w):
        return float(np.mean((windows @ w - target) ** 2))

    start = keras.initializers.Constant(np.linspace(0.5, -0.3, 8)[:, None, None])

    def train(optimizer):
        layer = keras.layers.Conv1D(
            1,
            8,
            use_bias=False,
            kernel_constraint=Monotone(min_value=0.0),
            kernel_initializer=start,
        )
        model = keras.Sequential([keras.Input((20, 1)), layer])
        model.compile(optimizer, "mse", jit_compile=True)
        repeat = (400, 1, 1)  # 400 full-batch steps in one epoch
        model.fit(np.tile(x, repeat), np.tile(y, repeat), batch_size=2, shuffle=False, verbose=0)
        return ops.convert_to_numpy(layer.kernel)[:, 0, 0].astype("float64")

    sgd = train(keras.optimizers.SGD(0.1))
    np.testing.assert_allclose(sgd, optimum, atol=2e-3)
    adam = train(keras.optimizers.Adam(0.02))
    assert np.all(np.diff(adam) >= 0) and adam.min() >= 0  # feasible,
    assert mse(adam) > 1.05 * mse(optimum)  # but a worse fit: Adam stopped short
