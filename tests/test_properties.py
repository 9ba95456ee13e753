"""Property tests for every public constraint, driven by hypothesis.

Random shapes (size-1 and zero-size dimensions included), valid random
``axis`` choices and parameters, and every float dtype. Checked: shape and
dtype kept, no NaN from finite input, feasible, idempotent, non-expansive
(convex sets, float64), and a NaN or an infinity in one group leaves every
other group exactly as it was.

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

from keras_kernel_constraints import constraints, sets
from tests.catalog import usable
from tests.helpers import EPS, FLOAT_DTYPES, applied, as_f64, tensor
from tests.specs import SPECS, allowed, max_violation, spec_of

# Magnitudes that keep float16 sums and squares representable in float32.
MAGNITUDE = {"float16": 100.0, "bfloat16": 100.0, "float32": 1e3, "float64": 1e3}


def real(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    rank = len(shape)
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-rank, rank - 1),
            st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(tuple),
        )
    )
    return shape, axis


def spec_for(cls):
    """The spec of a constraint class: its set's."""
    return SPECS[next(k for k in cls.__mro__ if k in sets.ALL_SETS).__name__]


USABLE = [cls for cls in constraints.ALL_CONSTRAINTS if usable(cls)]


@st.composite
def cases(draw, cls, dtype):
    spec = spec_for(cls)
    if spec.cases is not None:  # parameters that depend on the shape (matrix sets)
        shape, params = draw(spec.cases)
    else:
        shape, axis = draw(shape_and_axis())
        params = draw(spec.params(shape, axis))
    constraint = cls.from_config(params)
    values = real(-MAGNITUDE[dtype], MAGNITUDE[dtype])
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    y = draw(hnp.arrays(np.float64, shape, elements=values))
    return constraint, x, y


def scales(constraint, x, px):
    """Rounding scale: the largest magnitude in or out; for sums, the sum of
    magnitudes (of the input, or of the output: a sum near 90 is checked, in
    float64, only to about n * eps * 90)."""
    scale = max(1.0, float(np.abs(x).max(initial=0.0)), float(np.abs(px).max(initial=0.0)))
    if spec_of(constraint)[0].sums:
        scale = max(scale, float(np.abs(x).sum()), float(np.abs(px).sum()))
    return scale


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("cls", USABLE, ids=lambda c: c.__name__)
def test_constraint_properties(cls, dtype):
    @hypothesis.given(case=cases(cls, dtype))
    def check(case):
        constraint, x, y = case
        project = applied(constraint)
        w = tensor(x, dtype)
        out = project(w)
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        assert tuple(out.shape) == x.shape
        px = as_f64(out)
        assert not np.any(np.isnan(px))
        if px.size == 0:
            return
        scale = scales(constraint, as_f64(w), px)
        assert max_violation(constraint, px) <= 4 * allowed(constraint, px, dtype, scale)
        again = as_f64(project(out))
        np.testing.assert_allclose(again, px, rtol=0, atol=8 * EPS[dtype] * scale)
        spec, params = spec_of(constraint)
        if dtype == "float64" and spec.convex(params):
            py = as_f64(project(tensor(y, dtype)))
            bound = np.linalg.norm(x - y) * (1 + 1e-9) + 1e-9 * scale
            assert np.linalg.norm(px - py) <= bound

    check()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", USABLE, ids=lambda c: c.__name__)
def test_a_non_finite_entry_stays_inside_its_group(cls, dtype, bad):
    # A NaN or an infinity changes its own group only; a bounded set maps an
    # infinity to a finite point (the limit along its ray: test_nonfinite.py).
    @hypothesis.given(case=cases(cls, dtype), where=st.integers(0, 10**6))
    def check(case, where):
        constraint, x, _ = case
        hypothesis.assume(x.size > 0)
        project = applied(constraint)
        clean = as_f64(project(tensor(x, dtype)))
        poisoned = x.copy()
        index = np.unravel_index(where % x.size, x.shape)
        poisoned[index] = bad
        out = as_f64(project(tensor(poisoned, dtype)))
        if constraint.bounded and not np.isnan(bad):
            assert np.all(np.isfinite(out)), out
        # Entries that share no group with the NaN: every group axis may
        # differ, but some other axis must differ from the NaN's index.
        spec, params = spec_of(constraint)
        group = spec.group(params, x.ndim)
        others = [a for a in range(x.ndim) if a not in group]
        grid = np.indices(x.shape)
        same_group = np.ones(x.shape, bool)
        for a in others:
            same_group &= grid[a] == index[a]
        if spec.layout == "elementwise":
            same_group = np.zeros(x.shape, bool)
            same_group[index] = True
        # Bit for bit, the norm family too: a group that needs the overflow-
        # safe norm takes it alone (core/reductions.group_norm_parts).
        np.testing.assert_array_equal(out[~same_group], clean[~same_group])
        if np.isnan(bad) and same_group.sum() > 1:
            # A NaN poisons its own group: no silent, off-set numbers there.
            # (A group of one entry has one feasible point, which it gets.)
            assert np.all(np.isnan(out[same_group])), out[same_group]

    check()
