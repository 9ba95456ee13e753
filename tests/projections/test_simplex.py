"""Exactness of the simplex, capped-simplex and l1-ball projections.

References are float64 bisections on the dual variable (a different
algorithm from the library's sort), plus the optimality conditions:
``P(w) = max(w - tau, 0)`` with one ``tau`` per group for the simplex.
"""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.projections import (
    project_capped_simplex,
    project_l1_ball,
    project_simplex,
)
from tests.helpers import EPS, FLOAT_DTYPES, as_f64, jit, tensor, to_numpy


def bisect_tau(rows, value, lo=0.0, hi=np.inf, iterations=200):
    """Float64 reference: tau with sum(clip(rows - tau, lo, hi)) = value, per row."""
    left = rows.min(axis=-1, keepdims=True) - (hi if np.isfinite(hi) else value) - 1
    right = rows.max(axis=-1, keepdims=True) - lo + 1
    for _ in range(iterations):
        mid = 0.5 * (left + right)
        above = np.clip(rows - mid, lo, hi).sum(axis=-1, keepdims=True) > value
        left, right = np.where(above, mid, left), np.where(above, right, mid)
    return 0.5 * (left + right)


def reference_simplex(rows, value):
    return np.maximum(rows - bisect_tau(rows, value), 0.0)


def reference_capped(rows, value, lo, hi):
    return np.clip(rows - bisect_tau(rows, value, lo, hi), lo, hi)


def reference_l1_ball(rows, radius):
    inside = np.abs(rows).sum(axis=-1, keepdims=True) <= radius
    return np.where(inside, rows, np.sign(rows) * reference_simplex(np.abs(rows), radius))


def rows_of(p, axes):
    """Group axes last, flattened: (groups, n)."""
    others = [a for a in range(p.ndim) if a not in axes]
    moved = np.transpose(p, others + list(axes))
    return moved.reshape(-1, int(np.prod([p.shape[a] for a in axes])))


# -- simplex --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "shape, axis, axes",
    [((3, 3, 2, 4), None, (0, 1, 2)), ((3, 3, 2, 4), (0, 1), (0, 1)), ((7, 5), -1, (1,)),
     ((9,), None, (0,)), ((2, 3, 4), (0, 2), (0, 2))],
)
def test_simplex_matches_reference(dtype, shape, axis, axes, rng):
    w = tensor(rng.normal(size=shape), dtype)
    out = project_simplex(w, 1.5, axis)
    assert keras.backend.standardize_dtype(out.dtype) == dtype and tuple(out.shape) == shape
    ref = reference_simplex(rows_of(as_f64(w), axes), 1.5)
    got = rows_of(as_f64(out), axes)
    np.testing.assert_allclose(got, ref, rtol=0, atol=8 * EPS[dtype] * 1.5)
    assert got.min() >= 0.0
    n = ref.shape[1]
    np.testing.assert_allclose(got.sum(axis=1), 1.5, rtol=0, atol=n * EPS[dtype] * 1.5)


def test_simplex_has_one_threshold_per_group(rng):
    w = rng.normal(size=(40, 6)) * 2
    p = as_f64(project_simplex(w, 2.0, axis=0))  # groups are the 6 columns
    for g in range(6):
        support = p[:, g] > 0
        tau = (w[support, g] - p[support, g])
        np.testing.assert_allclose(tau, tau[0], atol=1e-12)  # p = w - tau on the support
        assert np.all(w[~support, g] <= tau[0] + 1e-12)  # and w <= tau off it
        assert abs(p[:, g].sum() - 2.0) <= 1e-12


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
    np.testing.assert_array_equal(as_f64(project_simplex(np.array([[-5.0, 7.0]]), 2.0, axis=0)),
                                  [[2.0, 2.0]])
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


def test_capped_simplex_fixed_point_idempotence_and_degenerate_boxes(rng):
    w = rng.normal(size=(8, 3))
    once = as_f64(project_capped_simplex(w, 2.0, 0.0, 0.5))
    np.testing.assert_allclose(as_f64(project_capped_simplex(once, 2.0, 0.0, 0.5)), once,
                               atol=1e-15)
    tight = as_f64(project_capped_simplex(w, 4.0, 0.0, 0.5))  # n * hi == value
    np.testing.assert_array_equal(tight, 0.5)
    np.testing.assert_allclose(as_f64(project_capped_simplex(w, 1.0, 0.0, 1.0)),
                               as_f64(project_simplex(w, 1.0)), atol=1e-14)


def test_capped_simplex_is_non_expansive(rng):
    for _ in range(30):
        x, y = 2 * rng.normal(size=(2, 9, 3))
        px = as_f64(project_capped_simplex(x, 1.0, -0.2, 0.4))
        py = as_f64(project_capped_simplex(y, 1.0, -0.2, 0.4))
        assert np.all(np.linalg.norm(px - py, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)


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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_simplex_family_compiles_with_xla_and_matches_eager(dtype, rng):
    w = tensor(rng.normal(size=(3, 3, 4, 8)), dtype)
    cases = [
        (project_simplex, (1.0, (0, 1))),
        (project_l1_ball, (0.5, None)),
        (project_capped_simplex, (1.0, 0.0, 0.2, None)),
    ]
    for fn, args in cases:
        compiled = jit(lambda x, fn=fn, args=args: fn(x, *args))
        np.testing.assert_allclose(as_f64(compiled(w)), as_f64(fn(w, *args)), rtol=0,
                                   atol=4 * EPS[dtype])
