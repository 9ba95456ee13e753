"""Convex and Concave: the active-set projection against the dual NNLS
(scipy's Lawson-Hanson) and a QP solver, its KKT certificate, and jit.

Issue 17's bounds: max error <= 1e-5 in float32 and <= 1e-9 in float64,
relative to max(1, max|y|), for n in {3, 8, 32, 64, 256}.
"""

import cvxpy as cp
import numpy as np
import pytest
from scipy import optimize

from keras_kernel_constraints import sets
from keras_kernel_constraints.constraints import Concave, Convex
from keras_kernel_constraints.regularizers import ConvexityPenalty
from keras_kernel_constraints.sets import curvature
from tests.helpers import applied, as_f64, jit, tensor

LENGTHS = [3, 8, 32, 64, 256]
BOUND = {"float32": 1e-5, "float64": 1e-9}


def second_differences(n):
    d = np.zeros((n - 2, n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    return d


def by_nnls(y):
    d = second_differences(y.size)
    return y + d.T @ optimize.nnls(d.T, -y, maxiter=50 * y.size)[0]


def by_qp(y):
    x = cp.Variable(y.size)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - y)), [second_differences(y.size) @ x >= 0])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(x.value)


def samples(n, rng):
    """Rows of four kinds: noise, a noisy V, a noisy convex curve, a line."""
    t = np.linspace(-1.0, 1.0, n)
    return np.stack(
        [
            rng.normal(size=n) * 3.0,
            np.abs(t) + 0.05 * rng.normal(size=n),
            np.exp(2.0 * t) + 1e-3 * rng.normal(size=n),
            0.5 * t - 2.0,
            *(t**2 + 0.3 * rng.normal(size=(4, n))),
        ]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", LENGTHS)
def test_matches_the_dual_nnls_and_a_qp_solver(n, dtype, rng):
    y = samples(n, rng).astype(dtype).astype(np.float64)
    x = as_f64(sets.Convex(axis=-1).project(tensor(y, dtype)))
    scale = np.maximum(1.0, np.abs(y).max(axis=1))
    nnls = np.stack([by_nnls(row) for row in y])
    assert np.max(np.abs(x - nnls).max(axis=1) / scale) <= BOUND[dtype]
    curvature = np.diff(x, n=2, axis=1)
    assert curvature.min() >= -8 * np.finfo(dtype).eps * scale.max()
    if n > 64:  # the solver's accuracy falls with n (D D^T's condition ~ n^4)
        return
    for row, ours, scaled in zip(y, x, scale, strict=True):
        qp = by_qp(row)
        # Where the solver is off (up to 3e-7 here), ours must be no farther
        # from y: by strong convexity our error is then at most the solver's.
        close = np.abs(ours - qp).max() / scaled <= BOUND[dtype]
        nearer = np.sum((ours - row) ** 2) <= np.sum((qp - row) ** 2) + 1e-12 * scaled**2
        assert close or (dtype == "float64" and nearer)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", LENGTHS)
def test_idempotent_and_feasible_input_unchanged(n, dtype, rng):
    project = applied(sets.Convex(axis=-1))
    y = tensor(samples(n, rng), dtype)
    x = project(y)
    again = as_f64(project(x))
    eps = np.finfo(dtype).eps
    atol = 8 * n * eps * max(1, np.abs(again).max())
    np.testing.assert_allclose(again, as_f64(x), rtol=0, atol=atol)
    t = np.linspace(-1.0, 1.0, n)
    convex = np.stack([t**2, np.exp(t), np.abs(t - 0.3), 2.0 * t + 1.0])
    out = as_f64(project(tensor(convex, dtype)))
    stored = convex.astype(dtype).astype(np.float64)
    strictly = np.diff(stored, n=2, axis=1).min(axis=1) > 0
    # Strictly convex rows come back bit for bit; rows with straight runs
    # are refitted to rounding.
    np.testing.assert_array_equal(out[strictly], stored[strictly])
    np.testing.assert_allclose(out, stored, rtol=0, atol=8 * n * eps * 4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [3, 64])
def test_the_certificate_holds(n, dtype, rng):
    y = tensor(samples(n, rng), dtype)
    report = sets.Convex(axis=-1).certificate(y)
    eps = np.finfo(dtype).eps
    scale = np.maximum(1.0, np.abs(as_f64(y)).max(axis=1))
    iterations = as_f64(report["iterations"])
    assert np.all(np.isfinite(iterations)) and iterations.max() <= 3 * n
    assert np.all(as_f64(report["primal"]) <= 8 * eps * scale)
    # Multipliers reach n^2 times the residual; their rounding scales alike.
    assert np.all(as_f64(report["dual"]) <= n**2 * 8 * eps * scale)
    assert np.all(as_f64(report["stationarity"]) <= n * 8 * eps)
    np.testing.assert_array_equal(
        as_f64(report["projection"]), as_f64(sets.Convex(axis=-1).project(y))
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_three_taps_in_closed_form_match_the_active_set(dtype, rng):
    """A 3-tap slice has one second difference: its half-space projection is
    the active-set method's answer (which the longer slices take)."""
    y = rng.normal(size=(200, 3)) * rng.uniform(0.01, 100, size=(200, 1))
    closed = as_f64(sets.Convex(axis=-1).project(tensor(y, dtype)))
    rows = tensor(y, dtype)
    active, _, _ = curvature._active_set_rows(rows, None, certify=False)
    scale = np.maximum(1.0, np.abs(y).max(axis=1, keepdims=True))
    error = np.abs(closed - as_f64(active)) / scale
    assert error.max() <= 8 * np.finfo(dtype).eps, error.max()
    assert np.any(np.diff(y, n=2, axis=1) < 0) and np.any(np.diff(y, n=2, axis=1) > 0)


def test_three_taps_reach_the_limit_of_an_infinite_entry():
    # [0, t, 0] projects to (t/3)(1, 1, 1): infinite, not inf - inf.
    w = np.array([[0.0, np.inf, 0.0], [1.0, np.nan, 2.0], [1.0, -1.0, 1.0]], "float32")
    out = as_f64(Convex(axis=-1)(w))
    np.testing.assert_array_equal(out[0], [np.inf] * 3)
    assert np.all(np.isnan(out[1]))
    np.testing.assert_array_equal(out[2], w[2])


def test_concave_mirrors_convex(rng):
    y = rng.normal(size=(5, 9))
    np.testing.assert_array_equal(
        as_f64(Concave(axis=-1)(tensor(y, "float64"))),
        -as_f64(Convex(axis=-1)(tensor(-y, "float64"))),
    )


def test_short_slices_are_unconstrained():
    w = np.array([[3.0, -1.0], [0.5, 2.0]], "float32")
    np.testing.assert_array_equal(as_f64(Convex()(w)), w)


def test_one_trace_under_jit(rng):
    traces = []

    def project(w):
        traces.append(1)
        return sets.Convex(axis=0).project(w)

    compiled = jit(project)
    for _ in range(3):
        w = rng.normal(size=(16, 4, 2)).astype("float32")
        got = np.asarray(compiled(w))
        want = as_f64(sets.Convex(axis=0).project(w))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    assert len(traces) == 1


def test_penalty_is_zero_exactly_on_the_set(rng):
    y = tensor(rng.normal(size=(12, 3)), "float64")
    convex = Convex()(y)
    assert float(ConvexityPenalty(strength=1.0)(convex)) <= 1e-20
    assert float(ConvexityPenalty(strength=1.0)(y)) > 0
    assert float(ConvexityPenalty(True, strength=1.0)(Concave()(y))) <= 1e-20
    assert Convex().penalty() == ConvexityPenalty()
    assert Concave(axis=1).penalty() == ConvexityPenalty(True, axis=1)
