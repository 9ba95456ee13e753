"""Exactness of the simplex, capped-simplex and l1-ball projections.

References (``tests/specs/simplex.py``): the simplex by sorting (the library
bisects), the capped simplex by a float64 bisection run to 200 halvings,
plus the optimality conditions: ``P(w) = max(w - tau, 0)`` with one ``tau``
per group for the simplex, KKT for the capped simplex.
"""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.projections import (
    project_capped_simplex,
    project_l1_ball,
    project_simplex,
)
from tests.helpers import EPS, FLOAT_DTYPES, as_f64, needs_float64, tensor, to_numpy
from tests.specs.simplex import capped_rows, l1_rows, simplex_rows

reference_simplex = simplex_rows
reference_capped = capped_rows
reference_l1_ball = l1_rows


def rows_of(p, axes):
    """Group axes last, flattened: (groups, n)."""
    others = [a for a in range(p.ndim) if a not in axes]
    moved = np.transpose(p, others + list(axes))
    return moved.reshape(-1, int(np.prod([p.shape[a] for a in axes])))


# -- simplex --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "shape, axis, axes",
    [
        ((3, 3, 2, 4), None, (0, 1, 2)),
        ((3, 3, 2, 4), (0, 1), (0, 1)),
        ((7, 5), -1, (1,)),
        ((9,), None, (0,)),
        ((2, 3, 4), (0, 2), (0, 2)),
    ],
)
def test_simplex_matches_reference(dtype, shape, axis, axes, rng):
    w = tensor(rng.normal(size=shape), dtype)
    out = project_simplex(w, 1.5, axis=axis)
    assert keras.backend.standardize_dtype(out.dtype) == dtype and tuple(out.shape) == shape
    ref = reference_simplex(rows_of(as_f64(w), axes), 1.5)
    got = rows_of(as_f64(out), axes)
    np.testing.assert_allclose(got, ref, rtol=0, atol=8 * EPS[dtype] * 1.5)
    assert got.min() >= 0.0
    n = ref.shape[1]
    np.testing.assert_allclose(got.sum(axis=1), 1.5, rtol=0, atol=n * EPS[dtype] * 1.5)


@needs_float64
def test_simplex_has_one_threshold_per_group(rng):
    w = rng.normal(size=(40, 6)) * 2
    p = as_f64(project_simplex(w, 2.0, axis=0))  # groups are the 6 columns
    for g in range(6):
        support = p[:, g] > 0
        tau = w[support, g] - p[support, g]
        np.testing.assert_allclose(tau, tau[0], atol=1e-12)  # p = w - tau on the support
        assert np.all(w[~support, g] <= tau[0] + 1e-12)  # and w <= tau off it
        assert abs(p[:, g].sum() - 2.0) <= 1e-12


@needs_float64
def test_simplex_feasible_input_is_unchanged(rng):
    w = rng.dirichlet(np.ones(8), size=5).T  # columns on the simplex
    w[rng.random(w.shape) < 0.3] = 0.0
    w /= w.sum(axis=0)
    np.testing.assert_allclose(as_f64(project_simplex(w, 1.0)), w, rtol=0, atol=4e-16)
    dyadic = np.array([0.5, 0.25, 0.25, 0.0], "float32")  # sums exactly
    np.testing.assert_array_equal(to_numpy(project_simplex(dyadic)), dyadic)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_simplex_is_idempotent(dtype, rng):
    once = project_simplex(tensor(rng.normal(size=(16, 5)), dtype))
    twice = project_simplex(once)
    np.testing.assert_allclose(as_f64(twice), as_f64(once), rtol=0, atol=4 * EPS[dtype])


def test_simplex_is_non_expansive(rng):
    for _ in range(30):
        x, y = 3 * rng.normal(size=(2, 10, 4))
        px, py = as_f64(project_simplex(x)), as_f64(project_simplex(y))
        assert np.all(np.linalg.norm(px - py, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)


def test_simplex_ties_single_entries_and_zero_groups():
    ties = np.array([1.0, 1.0, 1.0, 0.2])
    np.testing.assert_allclose(as_f64(project_simplex(ties)), [1 / 3, 1 / 3, 1 / 3, 0.0])
    np.testing.assert_array_equal(
        as_f64(project_simplex(np.array([[-5.0, 7.0]]), 2.0, axis=0)), [[2.0, 2.0]]
    )
    np.testing.assert_allclose(as_f64(project_simplex(np.zeros((4, 3)))), np.full((4, 3), 0.25))
    assert to_numpy(project_simplex(np.zeros((0, 3)))).shape == (0, 3)


def test_simplex_group_of_a_million_entries(rng):
    w = rng.normal(size=(1_000_000,)).astype("float32")
    p = as_f64(project_simplex(w, 1.0))
    ref = reference_simplex(w.astype(np.float64)[None], 1.0)[0]
    assert p.min() >= 0.0
    np.testing.assert_allclose(p, ref, rtol=0, atol=4 * EPS["float32"] * np.abs(w).max())
    assert abs(p.sum() - 1.0) <= 1e-5


def test_simplex_finite_extremes_give_no_nan():
    big = np.float32(3e38)
    out = to_numpy(project_simplex(np.array([big, -big, big, 0.0], "float32")))
    assert not np.any(np.isnan(out))


# The single cases a peer library's suite found are in the specs' `extremes`
# (tests/test_specs.py); this sweep covers every scale of the dtype.
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=needs_float64)])
def test_simplex_family_sums_to_the_target_at_every_scale(dtype, rng):
    # Groups of 2..9 entries, some near-ties among the largest, at scales up
    # to the dtype's range: the sum must be within n * eps * target of the
    # target, whatever max|w| is (the old threshold lost it past 2**24 * s).
    top = 37 if dtype == "float32" else 300
    for exponent in range(0, top + 1, 3 if dtype == "float32" else 20):
        n = int(rng.integers(2, 10))
        base = rng.normal(size=(8, n))
        base[:, 1] = base[:, 0]  # ties at the top are the hard case
        w = (base * 10.0**exponent).astype(dtype)
        for value in (1.0, 3.5):
            tolerance = 4 * n * EPS[dtype] * value
            p = as_f64(project_simplex(w, value, axis=-1))
            assert p.min() >= 0.0
            np.testing.assert_allclose(p.sum(axis=-1), value, rtol=0, atol=tolerance)
            c = as_f64(project_capped_simplex(w, value, -0.5, 2.0, axis=-1))
            assert c.min() >= -0.5 and c.max() <= 2.0
            np.testing.assert_allclose(c.sum(axis=-1), value, rtol=0, atol=tolerance)
            ball = as_f64(project_l1_ball(w, value, axis=-1))
            assert np.all(np.abs(ball).sum(axis=-1) <= value + tolerance)


def test_simplex_nan_stays_in_its_group():
    w = np.array([[np.nan, 1.0], [0.0, 2.0]], "float32")
    out = to_numpy(project_simplex(w))
    np.testing.assert_allclose(out[:, 1], [0.0, 1.0])


# -- l1 ball -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_l1_ball_matches_reference_and_sign_simplex_identity(dtype, rng):
    w = tensor(rng.normal(size=(6, 8)), dtype)
    out = as_f64(project_l1_ball(w, 2.0))  # groups: columns
    x = as_f64(w)
    ref = reference_l1_ball(x.T, 2.0).T
    np.testing.assert_allclose(out, ref, rtol=0, atol=8 * EPS[dtype] * 2)
    outside = np.abs(x).sum(axis=0) > 2.0
    identity = np.sign(x) * as_f64(project_simplex(np.abs(x), 2.0))
    tol = 8 * EPS[dtype] * 2
    np.testing.assert_allclose(out[:, outside], identity[:, outside], rtol=0, atol=tol)
    assert np.all(np.abs(out).sum(axis=0) <= 2.0 * (1 + 8 * EPS[dtype]))


def test_l1_ball_leaves_inside_points_unchanged(rng):
    w = rng.uniform(-1, 1, size=(5, 3)).astype("float32")
    w /= 2 * np.abs(w).sum(axis=0)
    np.testing.assert_array_equal(to_numpy(project_l1_ball(w, 1.0)), w)


@needs_float64
def test_l1_ball_is_idempotent_and_non_expansive(rng):
    for _ in range(20):
        x, y = 2 * rng.normal(size=(2, 12, 3))
        px, py = as_f64(project_l1_ball(x, 1.0)), as_f64(project_l1_ball(y, 1.0))
        np.testing.assert_allclose(as_f64(project_l1_ball(px, 1.0)), px, atol=1e-15)
        assert np.all(np.linalg.norm(px - py, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)


# -- capped simplex -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_capped_simplex_matches_reference(dtype, rng):
    w = tensor(rng.normal(size=(10, 6)), dtype)
    out = as_f64(project_capped_simplex(w, 1.0, -0.1, 0.3))
    ref = reference_capped(as_f64(w).T, 1.0, -0.1, 0.3).T
    np.testing.assert_allclose(out, ref, rtol=0, atol=8 * EPS[dtype])
    assert out.min() >= np.float32(-0.1) - EPS[dtype] and out.max() <= 0.3 + EPS[dtype]
    np.testing.assert_allclose(out.sum(axis=0), 1.0, rtol=0, atol=10 * EPS[dtype] * 1.0)


@needs_float64
def test_capped_simplex_kkt_conditions(rng):
    w = 3 * rng.normal(size=(50, 4))
    lo, hi = 0.0, 0.07  # 1 / 0.07 is not an integer: every group has a free entry
    p = as_f64(project_capped_simplex(w, 1.0, lo, hi, axis=0))
    for g in range(4):
        free = (p[:, g] > lo) & (p[:, g] < hi)
        tau = w[free, g] - p[free, g]
        np.testing.assert_allclose(tau, tau[0], atol=1e-12)
        assert np.all(w[p[:, g] == lo, g] - tau[0] <= lo + 1e-12)
        assert np.all(w[p[:, g] == hi, g] - tau[0] >= hi - 1e-12)
        assert abs(p[:, g].sum() - 1.0) <= 1e-12


@needs_float64
def test_capped_simplex_fixed_point_idempotence_and_degenerate_boxes(rng):
    w = rng.normal(size=(8, 3))
    once = as_f64(project_capped_simplex(w, 2.0, 0.0, 0.5))
    np.testing.assert_allclose(
        as_f64(project_capped_simplex(once, 2.0, 0.0, 0.5)), once, atol=1e-15
    )
    tight = as_f64(project_capped_simplex(w, 4.0, 0.0, 0.5))  # n * hi == value
    np.testing.assert_array_equal(tight, 0.5)
    np.testing.assert_allclose(
        as_f64(project_capped_simplex(w, 1.0, 0.0, 1.0)),
        as_f64(project_simplex(w, 1.0)),
        atol=1e-14,
    )


def test_capped_simplex_is_non_expansive(rng):
    for _ in range(30):
        x, y = 2 * rng.normal(size=(2, 9, 3))
        px = as_f64(project_capped_simplex(x, 1.0, -0.2, 0.4))
        py = as_f64(project_capped_simplex(y, 1.0, -0.2, 0.4))
        assert np.all(np.linalg.norm(px - py, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)


@needs_float64
def test_capped_simplex_accepts_a_target_on_the_edge_up_to_rounding():
    hi = -0.11359424137546492
    value = -1.113594241375465 * 5 + 5 * (hi + 1.113594241375465)  # 5 * hi, rounded
    assert value != 5 * hi
    out = as_f64(project_capped_simplex(np.zeros(5), value, -1.113594241375465, hi))
    np.testing.assert_allclose(out, hi, rtol=1e-15)


def test_capped_simplex_rejects_an_empty_set():
    message = r"no group of n=4 entries in \[0.0, 0.2\] sums to `value`=1"
    with pytest.raises(ValueError, match=message):
        project_capped_simplex(np.zeros((4, 2)), 1.0, 0.0, 0.2)
    with pytest.raises(ValueError, match="n \\* min_value <= value"):
        project_capped_simplex(np.zeros((4,)), 1.0, 0.5, 2.0)
