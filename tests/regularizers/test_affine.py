"""Penalties: values against NumPy, zero on feasible weights, gradients, configs."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints import regularizers
from keras_kernel_constraints.constraints import Box, NonNeg, SumTo
from keras_kernel_constraints.regularizers import (
    BoxPenalty,
    DistancePenalty,
    NonNegPenalty,
    SumToPenalty,
)
from tests.catalog import REGULARIZERS
from tests.helpers import (
    as_f64,
    gradient,
    tensor,
    to_numpy,
)

EXAMPLES = [r for r in REGULARIZERS if isinstance(r, (NonNegPenalty, BoxPenalty, SumToPenalty))]


def numpy_penalty(reg, w):
    """Independent float64 formulas, written from the docstrings."""
    w = np.asarray(w, np.float64)
    p = reg.power
    if isinstance(reg, NonNegPenalty):
        return reg.strength * np.sum(np.maximum(-w, 0) ** p)
    if isinstance(reg, BoxPenalty):
        d = np.maximum(reg.min_value - w, 0) + np.maximum(w - reg.max_value, 0)
        return reg.strength * np.sum(d**p)
    if isinstance(reg, SumToPenalty):
        axes = tuple(range(w.ndim - 1)) if reg.axis is None else tuple(reg.axis)
        return reg.strength * np.sum(np.abs(w.sum(axis=axes) - reg.value) ** p)
    raise AssertionError(reg)


@pytest.mark.parametrize("reg", EXAMPLES, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_closed_form_penalties_match_numpy(reg, dtype, rng):
    w = 2 * rng.normal(size=(3, 3, 2, 4))
    weight = tensor(w, dtype)
    got = float(to_numpy(reg(weight)))
    want = numpy_penalty(reg, as_f64(weight))
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_penalties_are_float32(dtype, rng):
    w = tensor(300 * rng.normal(size=(64, 8)), dtype)  # squares overflow float16
    loss = NonNegPenalty(strength=1.0, power=2)(w)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    want = np.sum(np.maximum(-as_f64(w), 0) ** 2)
    np.testing.assert_allclose(float(to_numpy(loss)), want, rtol=1e-5)


def test_distance_penalty_of_elementwise_sets_equals_the_closed_forms(rng):
    w = rng.normal(size=(5, 4)).astype("float32")
    for power in (1, 2):
        np.testing.assert_allclose(
            to_numpy(DistancePenalty(NonNeg(), strength=0.7, power=power)(w)),
            to_numpy(NonNegPenalty(strength=0.7, power=power)(w)),
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            to_numpy(DistancePenalty(Box(-0.2, 0.3), strength=0.7, power=power)(w)),
            to_numpy(BoxPenalty(-0.2, 0.3, strength=0.7, power=power)(w)),
            rtol=1e-6,
        )


def test_distance_penalty_for_sum_to_is_the_hyperplane_distance(rng):
    w = rng.normal(size=(3, 3, 2, 4))
    residual = w.sum(axis=(0, 1, 2)) - 1.0  # 4 groups of n = 18
    np.testing.assert_allclose(
        float(to_numpy(DistancePenalty(SumTo(1.0), strength=1.0, power=2)(w))),
        np.sum(residual**2 / 18),
    )
    np.testing.assert_allclose(
        float(to_numpy(DistancePenalty(SumTo(1.0), strength=1.0, power=1)(w))),
        np.sum(np.abs(residual) / np.sqrt(18)),
    )


@pytest.mark.parametrize("power", [1, 2])
def test_distance_penalty_gradient_points_at_the_projection(power, rng):
    w = rng.normal(size=(4, 3))
    feasible = to_numpy(SumTo(1.0)(tensor(w, "float64")))
    penalty = DistancePenalty(SumTo(1.0), strength=0.5, power=power)
    for value in (w, feasible):
        grad = gradient(penalty, value)
        assert np.all(np.isfinite(grad))
        diff = value - to_numpy(SumTo(1.0)(tensor(value, "float64")))
        if power == 2:
            np.testing.assert_allclose(grad, 2 * 0.5 * diff, atol=1e-12)
        else:
            norms = np.linalg.norm(diff, axis=0, keepdims=True)
            want = np.where(norms > 0, 0.5 * diff / np.where(norms > 0, norms, 1), 0)
            np.testing.assert_allclose(grad, want, atol=1e-6)
    exact = np.array([[0.25], [0.75]])
    grad = gradient(DistancePenalty(SumTo(1.0), strength=1.0, power=1), exact)
    np.testing.assert_array_equal(grad, 0.0)


def test_lookup_and_aliases():
    assert regularizers.get(None) is None
    assert regularizers.get("non_neg_penalty") == NonNegPenalty()
    with pytest.warns(DeprecationWarning, match="without bounds"):
        assert regularizers.get("BoxPenalty") == BoxPenalty(0.0, 1.0)
    assert DistancePenalty("sum_to") == DistancePenalty(SumTo())
    with pytest.raises(ValueError, match="Unknown regularizer name"):
        regularizers.get("l3")


def test_bad_weights_raise_on_first_use():
    with pytest.raises(ValueError, match=r"SumToPenalty: `axis`=3 is out of range"):
        SumToPenalty(1.0, axis=3)(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match="NonNegPenalty needs a floating-point weight"):
        NonNegPenalty()(np.zeros((2,), "int32"))
