"""Unimodal: the free peak against brute force over the split, the fixed peak
against a QP solver, and what the set does in an intersection and a layer.

The free-peak set is a union of convex sets, so two different points can be
equally near: the check is on the objective (equal to 1e-6 of the squared
norm, issue 17), plus feasibility and idempotence, not on the point.
"""

import cvxpy as cp
import keras
import numpy as np
import pytest
from scipy import optimize

from keras_kernel_constraints import sets
from keras_kernel_constraints.constraints import Unimodal
from tests.helpers import applied, as_f64, jit, tensor

INSTANCES = 200


def brute_force(y):
    """The least squared error over every split: rising prefix, falling suffix."""
    n = y.size
    costs = []
    for j in range(n + 1):
        rise = optimize.isotonic_regression(y[:j]).x if j else y[:0]
        fall = optimize.isotonic_regression(y[j:], increasing=False).x if j < n else y[:0]
        costs.append(float(np.sum((np.concatenate([rise, fall]) - y) ** 2)))
    return min(costs)


def is_unimodal(x, tol):
    """Whether ``x`` rises (to ``tol``) up to its largest entry and falls after it."""
    k = int(np.argmax(x))
    return bool(np.all(np.diff(x[: k + 1]) >= -tol) and np.all(np.diff(x[k:]) <= tol))


def rows(rng, dtype):
    for _ in range(INSTANCES):
        n = int(rng.integers(1, 14))
        yield rng.normal(size=n) * rng.uniform(0.1, 10.0), dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_free_peak_reaches_the_best_split(dtype, rng):
    tol = {"float32": 1e-6, "float64": 1e-12}[dtype]
    project = applied(sets.Unimodal())
    for y, _ in rows(rng, dtype):
        y = y.astype(dtype).astype(np.float64)
        x = as_f64(project(tensor(y, dtype)))
        scale = max(1.0, float(np.sum(y**2)))
        assert abs(float(np.sum((x - y) ** 2)) - brute_force(y)) <= 1e-6 * scale
        assert is_unimodal(x, tol * max(1.0, np.abs(y).max()))
        again = as_f64(project(tensor(x, dtype)))
        np.testing.assert_array_equal(again, x)


def test_fixed_peak_matches_a_qp_solver(rng):
    worst = 0.0
    for y, _ in rows(rng, "float64"):
        n = y.size
        k = int(rng.integers(-n, n))
        x = as_f64(sets.Unimodal(k).project(tensor(y, "float64")))
        p = k % n
        v = cp.Variable(n)
        order = [v[i] <= v[i + 1] for i in range(p)] + [v[i] >= v[i + 1] for i in range(p, n - 1)]
        problem = cp.Problem(cp.Minimize(cp.sum_squares(v - y)), [v[0] == v[0], *order])
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
        worst = max(worst, float(np.abs(x - v.value).max() / max(1.0, np.abs(y).max())))
        assert np.all(np.diff(x[: p + 1]) >= 0) and np.all(np.diff(x[p:]) <= 0)
    assert worst <= 1e-7  # the solver's own accuracy; the spec's reference is exact


def test_fixed_peak_pools_both_sides_when_neither_split_fits():
    # Neither "rise to 1, then fall" split is feasible here: the peak pools
    # with both neighbours (two isotonic fits alone would miss it).
    x = as_f64(sets.Unimodal(1).project(tensor(np.array([1.0, 0.0, 1.0]), "float64")))
    np.testing.assert_allclose(x, [2 / 3, 2 / 3, 2 / 3], rtol=0, atol=1e-15)


def test_free_peak_is_not_convex_and_is_refused_by_intersect():
    assert not sets.Unimodal().convex and sets.Unimodal(mode=2).convex
    with pytest.raises(ValueError, match="convex"):
        sets.Intersect(sets.Unimodal(), sets.NonNegative())
    both = sets.Intersect(sets.Unimodal(mode=2), sets.Box(0.0, 1.0))
    x = as_f64(both.project(tensor(np.array([0.5, -1.0, 3.0, 0.2, 0.4]), "float64")))
    assert np.all(x >= 0.0) and np.all(x <= 1.0)
    assert np.all(np.diff(x[:3]) >= -1e-9) and np.all(np.diff(x[2:]) <= 1e-9)


def test_mode_out_of_range_raises_on_first_use():
    Unimodal(mode=-5)(np.zeros((5, 2), "float32"))
    with pytest.raises(ValueError, match=r"Unimodal: `mode`=5 is out of range .*length 5"):
        Unimodal(mode=5)(np.zeros((5, 2), "float32"))
    with pytest.raises(ValueError, match=r"`mode`=-6 is out of range"):
        Unimodal(mode=-6)(np.zeros((5, 2), "float32"))


@pytest.mark.parametrize("mode", [None, 3])
def test_one_trace_under_jit(mode, rng):
    traces = []

    def project(w):
        traces.append(1)
        return sets.Unimodal(mode, axis=0).project(w)

    compiled = jit(project)
    for _ in range(3):
        w = rng.normal(size=(9, 4, 2)).astype("float32")
        got = np.asarray(compiled(w))
        np.testing.assert_allclose(got, as_f64(sets.Unimodal(mode).project(w)), atol=1e-6)
    assert len(traces) == 1


def test_a_bump_kernel_keeps_its_shape_while_training(rng):
    # A Conv1D learns a smoothing bump from noisy targets; its kernel stays
    # unimodal along the taps after every step, and the peak may move.
    target = np.exp(-0.5 * ((np.arange(9) - 5.0) / 1.5) ** 2).astype("float32")
    x = rng.normal(size=(256, 32, 1)).astype("float32")
    y = np.stack([np.convolve(row[:, 0], target[::-1], mode="valid") for row in x])[..., None]
    layer = keras.layers.Conv1D(1, 9, use_bias=False, kernel_constraint=Unimodal())
    model = keras.Sequential([keras.Input((32, 1)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    kernel = keras.ops.convert_to_numpy(layer.kernel)[:, 0, 0]
    assert is_unimodal(kernel, 1e-6)
    assert int(np.argmax(kernel)) == 5
    assert np.abs(kernel - target).max() < 0.05
