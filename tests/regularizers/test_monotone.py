"""Order and smoothness penalties: values against NumPy, zeros, gradients, errors."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Monotone
from keras_kernel_constraints.regularizers import (
    DistancePenalty,
    FirstDifferencePenalty,
    MonotonePenalty,
    SecondDifferencePenalty,
)
from tests.helpers import FLOAT_DTYPES, as_f64, gradient, tensor, to_numpy

PENALTIES = [
    MonotonePenalty(strength=0.5),
    MonotonePenalty(False, axis=1, min_step=0.2, strength=2.0, power=1),
    MonotonePenalty(axis=-1, min_step=0.1, strength=1.0, power=2),
    FirstDifferencePenalty(axis=0, l1=0.3, l2=0.0),
    FirstDifferencePenalty(axis=2, l1=0.0, l2=0.7),
    SecondDifferencePenalty(axis=0, l1=0.2, l2=0.1),
    SecondDifferencePenalty(axis=-1, l1=0.0, l2=1.0),
]


def numpy_penalty(reg, w):
    """Independent float64 formulas, written from the docstrings."""
    w = np.asarray(w, np.float64)
    if isinstance(reg, MonotonePenalty):
        d = np.diff(w, axis=reg.axis) * (1 if reg.increasing else -1)
        return reg.strength * np.sum(np.maximum(reg.min_step - d, 0) ** reg.power)
    order = 1 if isinstance(reg, FirstDifferencePenalty) else 2
    d = np.diff(w, n=order, axis=reg.axis)
    return reg.l1 * np.abs(d).sum() + reg.l2 * (d**2).sum()


@pytest.mark.parametrize("reg", PENALTIES, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalties_match_numpy(reg, dtype, rng):
    weight = tensor(rng.normal(size=(5, 3, 4)), dtype)
    got = float(to_numpy(reg(weight)))
    want = numpy_penalty(reg, as_f64(weight))
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_monotone_penalty_is_zero_exactly_on_the_set(dtype, rng):
    constraint = Monotone(axis=1, min_step=0.25)
    w = tensor(3 * rng.normal(size=(4, 6, 2)), dtype)
    penalty = constraint.penalty(1.0, power=1)
    assert isinstance(penalty, MonotonePenalty) and penalty.min_step == 0.25
    steps_ok = tensor(np.cumsum(np.full((4, 6, 2), 0.5), axis=1), dtype)
    assert float(to_numpy(penalty(steps_ok))) == 0.0
    assert float(to_numpy(penalty(w))) > 0.1


def test_bounded_monotone_companion_is_the_euclidean_distance(rng):
    constraint = Monotone(min_value=0.0, max_value=1.0)
    penalty = constraint.penalty(2.0)
    assert penalty == DistancePenalty(constraint, strength=2.0)
    w = rng.normal(size=(7, 3))
    got = float(to_numpy(penalty(tensor(w, "float64"))))
    projected = as_f64(constraint(tensor(w, "float64")))
    np.testing.assert_allclose(got, 2.0 * np.sum((w - projected) ** 2), rtol=1e-12)


def test_smoothness_penalties_vanish_on_constant_and_linear_slices():
    ramp = np.linspace(-1.0, 2.0, 7)[:, None] * np.ones((1, 3))
    constant = np.full((7, 3), 0.4)
    assert float(to_numpy(FirstDifferencePenalty(l1=1.0, l2=1.0)(constant))) == 0.0
    assert float(to_numpy(SecondDifferencePenalty(l1=1.0, l2=1.0)(ramp))) < 1e-12
    assert float(to_numpy(FirstDifferencePenalty(l1=1.0, l2=1.0)(ramp))) > 1.0


@pytest.mark.parametrize("reg", PENALTIES, ids=repr)
def test_short_axes_cost_nothing(reg):
    # One entry has no neighbour; two entries have no second difference.
    assert float(to_numpy(reg(np.ones((1, 1, 1), "float32")))) == 0.0
    if isinstance(reg, SecondDifferencePenalty):
        assert float(to_numpy(reg(np.arange(8, dtype="float32").reshape(2, 2, 2)))) == 0.0


def test_monotone_penalty_gradient_pushes_towards_order():
    w = np.array([0.0, 1.0, 0.5, 2.0], "float32")
    grad = gradient(MonotonePenalty(strength=1.0, power=2), w)
    # Only the violating pair (1.0, 0.5) pulls: the higher one down, the lower up.
    np.testing.assert_allclose(grad, [0.0, 1.0, -1.0, 0.0])


@pytest.mark.parametrize("reg", PENALTIES, ids=repr)
def test_scalar_weight_raises(reg):
    with pytest.raises(ValueError, match="rank >= 1"):
        reg(np.float32(1.0))


@pytest.mark.parametrize("reg", PENALTIES[:1] + PENALTIES[3:4], ids=repr)
def test_usable_as_a_layer_regularizer(reg, rng):
    layer = keras.layers.Conv1D(2, 5, kernel_regularizer=reg)
    layer(rng.normal(size=(1, 8, 3)).astype("float32"))
    assert len(layer.losses) == 1 and float(to_numpy(layer.losses[0])) >= 0.0
