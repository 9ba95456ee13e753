"""Property tests: every grouped constraint on random shapes, axes and values.

Feasible (NumPy check), shape kept, no NaN from finite input, idempotent,
and non-expansive for the convex sets. Zero-size dimensions included.
"""

import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest

from keras_kernel_constraints.constraints import (
    CappedSimplex,
    L1Ball,
    L2Ball,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from tests.feasibility import allowed, max_violation
from tests.helpers import as_f64

FACTORIES = {
    "SumTo": lambda axis: SumTo(0.5, axis=axis),
    "Simplex": lambda axis: Simplex(2.0, axis=axis),
    "CappedSimplex": lambda axis: CappedSimplex(0.0, -1.0, 1.0, axis=axis),
    "L1Ball": lambda axis: L1Ball(1.5, axis=axis),
    "L2Ball": lambda axis: L2Ball(1.5, axis=axis),
    "UnitSphere": lambda axis: UnitSphere(2.0, axis=axis),
    "NormBand": lambda axis: NormBand(0.5, 1.0, axis=axis),
}
CONVEX = {"SumTo", "Simplex", "CappedSimplex", "L1Ball", "L2Ball"}


@st.composite
def weight_pairs_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    rank = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-rank, rank - 1),
        st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(tuple),
    ))
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    y = draw(hnp.arrays(np.float64, shape, elements=values))
    return x, y, axis


@pytest.mark.parametrize("name", sorted(FACTORIES))
@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(case=weight_pairs_and_axis())
def test_grouped_constraints_on_random_shapes(name, case):
    x, y, axis = case
    constraint = FACTORIES[name](axis)
    px = as_f64(constraint(x))
    assert px.shape == x.shape
    assert not np.any(np.isnan(px))
    if px.size == 0:
        return
    # Rounding scales with the input: w - tau cancels digits when |w| >> |p|;
    # and a backend that sums sequentially (XLA on CPU) errs by up to
    # n * eps * sum|w|, not n * eps * max|w| as TensorFlow's pairwise sums do.
    scale = max(1.0, float(np.abs(x).max()), float(np.abs(px).max()))
    summed = max(scale, float(np.abs(x).sum()))
    assert max_violation(constraint, px) <= 4 * allowed(constraint, px, "float64", summed)
    np.testing.assert_allclose(as_f64(constraint(px)), px, rtol=0, atol=64 * 2.2e-16 * scale)
    if name in CONVEX:
        py = as_f64(constraint(y))
        bound = np.linalg.norm(x - y) * (1 + 1e-9) + 1e-9 * scale
        assert np.linalg.norm(px - py) <= bound
