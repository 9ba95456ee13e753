"""Exactness of the orthant, box and sum-hyperplane projections.

Each projection is checked against a float64 NumPy reference, for
idempotence, for fixed points, and for optimality (KKT conditions, and no
feasible point closer than the result). Tolerances: see ``tests/helpers.py``.
"""

import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import keras
import numpy as np
import pytest

from keras_kernel_constraints.projections import (
    project_box,
    project_non_negative,
    project_sum_to,
)
from tests.helpers import (
    EPS,
    FLOAT_DTYPES,
    as_f64,
    jit,
    needs_float64,
    np_dtype,
    sum_tolerance,
    tensor,
    to_numpy,
)


def reference_sum_to(w, value, axes):
    """Closed form in float64: w + (value - sum_g w) / n_g."""
    w = np.asarray(w, np.float64)
    n = int(np.prod([w.shape[a] for a in axes])) if axes else 1
    return w + (value - w.sum(axis=axes, keepdims=True)) / n


# -- non-negative orthant and box: exact in every dtype ----------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_non_negative_matches_reference_exactly(dtype, rng):
    w = tensor(rng.normal(size=(7, 5)), dtype)
    out = project_non_negative(w)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert tuple(out.shape) == (7, 5)
    np.testing.assert_array_equal(as_f64(out), np.maximum(as_f64(w), 0.0))
    np.testing.assert_array_equal(to_numpy(project_non_negative(out)), to_numpy(out))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_box_matches_reference_exactly(dtype, rng):
    w = tensor(3 * rng.normal(size=(4, 3, 6)), dtype)
    lo, hi = -0.5, 1.25  # representable in every dtype
    out = project_box(w, lo, hi)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_array_equal(as_f64(out), np.clip(as_f64(w), lo, hi))
    np.testing.assert_array_equal(to_numpy(project_box(out, lo, hi)), to_numpy(out))


@needs_float64
def test_box_kkt_conditions(rng):
    w = rng.normal(size=(1000,)) * 2
    p = as_f64(project_box(w, -1.0, 0.5))
    inside = (p > -1.0) & (p < 0.5)
    np.testing.assert_array_equal(p[inside], w[inside])
    assert np.all(w[p == -1.0] <= -1.0)
    assert np.all(w[p == 0.5] >= 0.5)


def test_box_feasible_input_is_a_fixed_point(rng):
    w = rng.uniform(-2.0, 3.0, size=(50, 4)).astype("float32")
    np.testing.assert_array_equal(to_numpy(project_box(w, -2.0, 3.0)), w)
    nonneg = np.abs(w)
    np.testing.assert_array_equal(to_numpy(project_non_negative(nonneg)), nonneg)


def test_box_accepts_broadcast_tensor_bounds(rng):
    w = rng.normal(size=(5, 3)).astype("float32")
    lo = np.array([-1.0, 0.0, 0.5], "float32")
    out = to_numpy(project_box(w, lo, lo + 0.25))
    np.testing.assert_array_equal(out, np.clip(w, lo, lo + 0.25))


@needs_float64
def test_box_keeps_float64_bounds_exact():
    out = to_numpy(project_box(np.array([-1.0, 1.0]), 0.1, 0.7))
    np.testing.assert_array_equal(out, [0.1, 0.7])


def test_box_rounds_bounds_to_the_weight_dtype():
    out = to_numpy(project_box(np.array([1.0], "float16"), 0.0, 0.3))
    assert out.dtype == np.float16
    assert out[0] == np.float16(0.3)


# -- sum hyperplane -----------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "shape, axis, axes",
    [
        ((3, 3, 2, 4), None, (0, 1, 2)),  # Conv2D kernel: one group per filter
        ((3, 3, 2, 4), (0, 1), (0, 1)),  # one group per spatial kernel
        ((6, 5), None, (0,)),  # Dense kernel: one group per unit
        ((6, 5), -1, (1,)),  # rows
        ((9,), None, (0,)),  # bias: whole vector
        ((2, 3, 4), (0, 2), (0, 2)),
    ],
)
def test_sum_to_matches_closed_form(dtype, shape, axis, axes, rng):
    w = tensor(rng.normal(size=shape), dtype)
    out = project_sum_to(w, 1.0, axis=axis)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert tuple(out.shape) == shape
    ref = reference_sum_to(as_f64(w), 1.0, axes)
    scale = float(np.max(np.abs(ref)))
    np.testing.assert_allclose(as_f64(out), ref, rtol=0, atol=4 * EPS[dtype] * scale)
    n = int(np.prod([shape[a] for a in axes]))
    sums = as_f64(out).sum(axis=axes)
    assert np.max(np.abs(sums - 1.0)) <= sum_tolerance(dtype, n, scale)


def test_sum_to_float32_error_within_issue_bound(rng):
    for n in (2, 9, 100, 10_000):
        w = rng.normal(size=(n, 16)).astype("float32")
        sums = as_f64(project_sum_to(w, 1.0)).sum(axis=0)
        assert np.max(np.abs(sums - 1.0)) <= 1e-6 * n


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_sum_to_half_precision_accumulates_in_float32(dtype, rng):
    # A float16 running sum of 4096 entries near 0.5 is off by several units;
    # accumulated in float32, every entry is within one rounding of the truth.
    w = tensor(0.5 + 0.01 * rng.normal(size=(4096, 2)), dtype)
    out = as_f64(project_sum_to(w, 1.0))
    ref = reference_sum_to(as_f64(w), 1.0, (0,))
    np.testing.assert_allclose(out, ref, rtol=EPS[dtype], atol=1e-6)


@needs_float64
def test_sum_to_is_the_nearest_point(rng):
    w = rng.normal(size=(4, 6)) * 3
    p = as_f64(project_sum_to(w, 2.0, axis=0))
    # KKT: p - w is the multiplier times the all-ones normal, one per group.
    shift = p - w
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:1], shift.shape), atol=1e-12)
    # No feasible point is closer: sample feasible points around p.
    dist = np.linalg.norm(w - p, axis=0)
    for _ in range(200):
        q = p + rng.normal(size=p.shape)
        q -= q.mean(axis=0, keepdims=True) - p.mean(axis=0, keepdims=True)
        assert np.all(np.linalg.norm(w - q, axis=0) >= dist - 1e-12)


def test_sum_to_never_flips_signs_or_divides():
    w = np.array([0.6, -0.59, 0.0], "float32")
    np.testing.assert_allclose(to_numpy(project_sum_to(w, 1.0)), [0.93, -0.26, 0.33], atol=1e-6)
    zero_sum = np.array([1.0, -1.0, 0.0, 0.0], "float32")
    np.testing.assert_allclose(to_numpy(project_sum_to(zero_sum)), [1.25, -0.75, 0.25, 0.25])


def test_sharpening_kernel_is_a_fixed_point():
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32")[:, :, None, None]
    np.testing.assert_array_equal(to_numpy(project_sum_to(sharpen, 1.0)), sharpen)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_sum_to_exactly_feasible_input_is_unchanged(dtype, rng):
    # Dyadic entries whose sums are exact in every dtype.
    w = rng.integers(-8, 9, size=(5, 3)).astype(np.float64) / 4
    w[-1] = 1.5 - w[:-1].sum(axis=0)
    w = tensor(w, dtype)
    np.testing.assert_array_equal(to_numpy(project_sum_to(w, 1.5)), to_numpy(w))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_sum_to_is_idempotent(dtype, rng):
    w = tensor(rng.normal(size=(3, 3, 4, 2)), dtype)
    once = project_sum_to(w, 1.0)
    twice = project_sum_to(once, 1.0)
    scale = float(np.max(np.abs(as_f64(once))))
    np.testing.assert_allclose(as_f64(twice), as_f64(once), rtol=0, atol=2 * EPS[dtype] * scale)


def test_sum_to_is_non_expansive(rng):
    for _ in range(20):
        x, y = rng.normal(size=(2, 8, 3))
        px, py = as_f64(project_sum_to(x)), as_f64(project_sum_to(y))
        assert np.linalg.norm(px - py) <= np.linalg.norm(x - y) + 1e-6


def test_sum_to_single_entry_groups_take_the_value_exactly():
    w = np.array([[3.7, -2.0]], "float32")  # axis 0 has length 1
    out = to_numpy(project_sum_to(w, 0.1, axis=0))
    np.testing.assert_array_equal(out, np.float32([[0.1, 0.1]]))
    np.testing.assert_array_equal(to_numpy(project_sum_to(np.float32(5.0), 2.0)), np.float32(2.0))


def test_sum_to_zero_size_weights_pass_through():
    empty_groups = np.zeros((0, 3), "float32")
    assert to_numpy(project_sum_to(empty_groups, 1.0)).shape == (0, 3)
    no_groups = np.zeros((4, 0), "float32")
    assert to_numpy(project_sum_to(no_groups, 1.0)).shape == (4, 0)


def test_sum_to_accepts_per_group_targets(rng):
    w = rng.normal(size=(5, 3)).astype("float32")
    targets = np.array([[1.0, -2.0, 0.5]], "float32")
    sums = to_numpy(project_sum_to(w, targets)).sum(axis=0)
    np.testing.assert_allclose(sums, targets[0], atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_sum_to_finite_extremes_give_no_nan(dtype):
    big = float(np.finfo(np_dtype(dtype)).max) * 0.9
    w = tensor(np.array([big, big, -big, -big]), dtype)
    out = as_f64(project_sum_to(w, 1.0))
    assert not np.any(np.isnan(out))
    # Half precision is processed in float32, where these values are ordinary.
    if dtype == "float16":
        np.testing.assert_allclose(out, as_f64(w) + 0.25, rtol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize(
    "shape, axis",
    [
        ((6, 3), None),
        ((3, 6), -1),
        ((3, 3, 2, 4), None),
        ((4, 3, 3, 2), (1, 2, 3)),
        ((3, 4, 2), (0, 2)),
    ],  # leading, trailing and split group axes
)
def test_sum_to_extremes_in_every_group_layout_stay_finite_under_xla(dtype, shape, axis):
    big = float(np.finfo(np_dtype(dtype)).max) * 0.9
    # Every group sum overflows unless scaled first; the projection, 1/n
    # everywhere, is representable.
    w = np.full(shape, big)
    out = as_f64(jit(lambda x: project_sum_to(x, 1.0, axis=axis))(tensor(w, dtype)))
    assert np.all(np.isfinite(out))
    w32 = as_f64(tensor(w, dtype))
    axes = (
        (0, 1, 2)
        if axis is None and len(shape) == 4
        else ((0,) if axis is None else ((len(shape) - 1,) if axis == -1 else axis))
    )
    # The projection is linear in (w, value): the float64 reference works on
    # w / big, where its own sums cannot overflow. Entries of size big carry
    # rounding of a few eps * big.
    expected = big * reference_sum_to(w32 / big, 1.0 / big, axes)
    np.testing.assert_allclose(out, expected, rtol=0, atol=16 * EPS[dtype] * big)


def test_sum_to_nan_stays_in_its_group():
    w = np.array([[np.nan, 1.0], [0.0, 2.0]], "float32")
    out = to_numpy(project_sum_to(w, 1.0))  # groups are the columns
    assert np.all(np.isnan(out[:, 0]))
    np.testing.assert_allclose(out[:, 1], [0.0, 1.0])


# -- property test over random shapes and axes --------------------------------


@st.composite
def weights_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    rank = len(shape)
    axes = draw(
        st.one_of(
            st.none(),
            st.integers(-rank, rank - 1),
            st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(tuple),
        )
    )
    w = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3, allow_nan=False)))
    return w, axes


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(weights_and_axes(), st.floats(-10, 10))
@needs_float64
def test_sum_to_properties_on_random_shapes(case, value):
    w, axis = case
    rank = w.ndim
    if axis is None:
        axes = tuple(range(rank - 1)) if rank >= 2 else (0,)
    elif isinstance(axis, int):
        axes = (axis % rank,)
    else:
        axes = tuple(sorted(axis))
    out = as_f64(project_sum_to(w, value, axis=axis))
    assert out.shape == w.shape
    ref = reference_sum_to(w, value, axes)
    scale = max(1.0, float(np.max(np.abs(w))), abs(value))
    np.testing.assert_allclose(out, ref, rtol=0, atol=64 * EPS["float64"] * scale)
    np.testing.assert_allclose(
        as_f64(project_sum_to(out, value, axis=axis)), out, rtol=0, atol=64 * EPS["float64"] * scale
    )
