"""Property tests for every public constraint, driven by hypothesis.

Random shapes (size-1 and zero-size dimensions included), valid random
``axis`` choices and parameters, and every float dtype. Checked: shape and
dtype kept, no NaN from finite input, feasible, idempotent, non-expansive
(convex sets, float64), and a NaN in one group leaves every other group
exactly as it was.

Profiles (``HYPOTHESIS_PROFILE``, see ``tests/conftest.py``): ``ci`` runs a
few dozen examples per case; ``slow`` runs 1,000 per constraint and dtype:

    HYPOTHESIS_PROFILE=slow pytest tests/test_properties.py
"""

import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from keras_kernel_constraints import constraints
from keras_kernel_constraints.constraints import (
    Box,
    CappedSimplex,
    L1Ball,
    L2Ball,
    LinfBall,
    Monotone,
    NonNeg,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from tests.feasibility import allowed, group_axes, max_violation
from tests.helpers import EPS, FLOAT_DTYPES, as_f64, tensor

CONVEX = (NonNeg, Box, LinfBall, SumTo, Simplex, CappedSimplex, L1Ball, L2Ball, Monotone)
SUM_SETS = (SumTo, Simplex, CappedSimplex, L1Ball)
# Magnitudes that keep float16 sums and squares representable in float32.
MAGNITUDE = {"float16": 100.0, "bfloat16": 100.0, "float32": 1e3, "float64": 1e3}


def positive(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    rank = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-rank, rank - 1),
        st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(tuple),
    ))
    return shape, axis


def group_size(shape, axis):
    return int(np.prod([shape[a] for a in group_axes(axis, len(shape))]))


@st.composite
def capped_simplex(draw, shape, axis):
    n = max(1, group_size(shape, axis))
    lo = draw(positive(-2.0, 1.0))
    hi = lo + draw(positive(0.0, 2.0))
    value = n * lo + draw(positive(0.0, 1.0)) * n * (hi - lo)
    return CappedSimplex(value, lo, hi, axis=axis)


@st.composite
def norm_band(draw, axis):
    low = draw(positive(0.0, 5.0))
    return NormBand(low, low + draw(positive(0.01, 5.0)), axis=axis)


@st.composite
def box(draw):
    low = draw(positive(-10.0, 10.0))
    return Box(low, low + draw(positive(0.0, 10.0)))


@st.composite
def monotone(draw, shape):
    """Any ordered axis of the shape; bounds and steps feasible for its length."""
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    step = draw(st.one_of(st.just(0.0), positive(0.0, 1.0)))
    low = draw(st.one_of(st.none(), positive(-10.0, 10.0)))
    high = draw(st.one_of(st.none(), positive(0.0, 10.0)))
    if high is not None:
        high += (low or 0.0) + max(shape[axis] - 1, 0) * step
    return Monotone(draw(st.booleans()), axis, low, high, step)


# One strategy per public class: (shape, axis) -> strategy of instances.
STRATEGIES = {
    NonNeg: lambda shape, axis: st.just(NonNeg()),
    Box: lambda shape, axis: box(),
    LinfBall: lambda shape, axis: positive(0.01, 10.0).map(LinfBall),
    SumTo: lambda shape, axis: positive(-10.0, 10.0).map(lambda v: SumTo(v, axis=axis)),
    Simplex: lambda shape, axis: positive(0.01, 10.0).map(lambda v: Simplex(v, axis=axis)),
    CappedSimplex: capped_simplex,
    L1Ball: lambda shape, axis: positive(0.01, 10.0).map(lambda r: L1Ball(r, axis=axis)),
    L2Ball: lambda shape, axis: positive(0.01, 10.0).map(lambda r: L2Ball(r, axis=axis)),
    UnitSphere: lambda shape, axis: positive(0.01, 10.0).map(lambda r: UnitSphere(r, axis=axis)),
    NormBand: lambda shape, axis: norm_band(axis),
    Monotone: lambda shape, axis: monotone(shape),
}


def test_every_public_constraint_has_a_strategy():
    assert set(STRATEGIES) == set(constraints.ALL_CONSTRAINTS)


@st.composite
def cases(draw, cls, dtype):
    shape, axis = draw(shape_and_axis())
    constraint = draw(STRATEGIES[cls](shape, axis))
    values = positive(-MAGNITUDE[dtype], MAGNITUDE[dtype])
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    y = draw(hnp.arrays(np.float64, shape, elements=values))
    return constraint, x, y


def scales(constraint, x, px):
    """Rounding scale: the largest magnitude in or out; for sums, the sum of
    magnitudes (of the input, or of the output: a sum near 90 is checked, in
    float64, only to about n * eps * 90)."""
    scale = max(1.0, float(np.abs(x).max(initial=0.0)), float(np.abs(px).max(initial=0.0)))
    if isinstance(constraint, SUM_SETS):
        scale = max(scale, float(np.abs(x).sum()), float(np.abs(px).sum()))
    return scale


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("cls", constraints.ALL_CONSTRAINTS, ids=lambda c: c.__name__)
def test_constraint_properties(cls, dtype):
    @hypothesis.given(case=cases(cls, dtype))
    def check(case):
        constraint, x, y = case
        w = tensor(x, dtype)
        out = constraint(w)
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        assert tuple(out.shape) == x.shape
        px = as_f64(out)
        assert not np.any(np.isnan(px))
        if px.size == 0:
            return
        scale = scales(constraint, as_f64(w), px)
        assert max_violation(constraint, px) <= 4 * allowed(constraint, px, dtype, scale)
        again = as_f64(constraint(out))
        np.testing.assert_allclose(again, px, rtol=0, atol=8 * EPS[dtype] * scale)
        if dtype == "float64" and isinstance(constraint, CONVEX):
            py = as_f64(constraint(y))
            bound = np.linalg.norm(x - y) * (1 + 1e-9) + 1e-9 * scale
            assert np.linalg.norm(px - py) <= bound

    check()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", constraints.ALL_CONSTRAINTS, ids=lambda c: c.__name__)
def test_a_nan_stays_inside_its_group(cls, dtype):
    @hypothesis.given(case=cases(cls, dtype), where=st.integers(0, 10**6))
    def check(case, where):
        constraint, x, _ = case
        hypothesis.assume(x.size > 0)
        clean = as_f64(constraint(tensor(x, dtype)))
        poisoned = x.copy()
        index = np.unravel_index(where % x.size, x.shape)
        poisoned[index] = np.nan
        out = as_f64(constraint(tensor(poisoned, dtype)))
        # Entries that share no group with the NaN: every group axis may
        # differ, but some other axis must differ from the NaN's index.
        axes = getattr(constraint, "axis", "elementwise")
        group = () if axes == "elementwise" else group_axes(axes, x.ndim)
        others = [a for a in range(x.ndim) if a not in group]
        grid = np.indices(x.shape)
        same_group = np.ones(x.shape, bool)
        for a in others:
            same_group &= grid[a] == index[a]
        if axes == "elementwise":
            same_group = np.zeros(x.shape, bool)
            same_group[index] = True
        if isinstance(constraint, (L2Ball, UnitSphere, NormBand)):
            # The norm takes its overflow-safe path for the whole tensor when
            # any group needs it (a NaN does): other groups may then round
            # differently, by an ulp, but stay finite and correct.
            assert not np.any(np.isnan(out[~same_group]))
            np.testing.assert_allclose(out[~same_group], clean[~same_group], rtol=4 * EPS[dtype],
                                       atol=0)
        else:
            np.testing.assert_array_equal(out[~same_group], clean[~same_group])

    check()
