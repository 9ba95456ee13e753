"""Intersections against a convex solver (cvxpy with Clarabel), one table of rules.

Tolerances (float64): every exact rule within 1e-5 of the solver on 200
random instances (the solver's own accuracy is 1e-8 to 1e-6 here); Dykstra
within 1e-3 of the solver after its default 1,000 sweeps on the three pairs
the issue names; the residual is reported when the sweeps run out.
"""

from __future__ import annotations

import math

import cvxpy as cp
import keras
import numpy as np
import pytest

from keras_kernel_constraints import constraints, regularizers, sets
from tests.helpers import applied, as_f64, needs_float64, tensor

SIZES = (2, 3, 5, 8, 13)
PER_SIZE = 40  # 200 instances per rule


def increasing(x):
    return x[1:] - x[:-1]


# name -> make(rng, n): (members, constraints of the cvxpy variable), every member on axis -1
def _sum_box(rng, n):
    lo, hi = -rng.uniform(0, 2), rng.uniform(0.2, 3)
    s = rng.uniform(n * lo, n * hi)
    return [sets.SumTo(s, axis=-1), sets.Box(lo, hi)], lambda x: [cp.sum(x) == s, x >= lo, x <= hi]


def _sum_non_negative(rng, n):
    s = rng.uniform(0.1, 3)
    return [sets.NonNegative(), sets.SumTo(s, axis=-1)], lambda x: [cp.sum(x) == s, x >= 0]


def _sum_above(rng, n):
    lo = rng.uniform(-2, 1)
    s = n * lo + rng.uniform(0.01, 3)
    return [sets.SumTo(s, axis=-1), sets.Box(lo, None)], lambda x: [cp.sum(x) == s, x >= lo]


def _sum_below(rng, n):
    hi = rng.uniform(-1, 2)
    s = n * hi - rng.uniform(0.01, 3)
    return [sets.Box(None, hi), sets.SumTo(s, axis=-1)], lambda x: [cp.sum(x) == s, x <= hi]


def _monotone_simplex(rng, n):
    return [sets.Monotone(axis=-1), sets.Simplex(axis=-1)], lambda x: [
        increasing(x) >= 0,
        cp.sum(x) == 1,
        x >= 0,
    ]


def _monotone_sum(rng, n):
    s, up = rng.normal(), bool(rng.integers(2))
    sign = 1 if up else -1
    return [sets.SumTo(s, axis=-1), sets.Monotone(up, axis=-1)], lambda x: [
        sign * increasing(x) >= 0,
        cp.sum(x) == s,
    ]


def _monotone_box_sum(rng, n):
    up, step = bool(rng.integers(2)), rng.choice([0.0, rng.uniform(0, 0.2)])
    lo = rng.uniform(-1, 0)
    hi = lo + (n - 1) * step + rng.uniform(0.1, 2)
    s = rng.uniform(n * lo + step * n * (n - 1) / 2, n * hi - step * n * (n - 1) / 2)
    sign = 1 if up else -1
    members = [sets.Monotone(up, min_step=step, axis=-1), sets.Box(lo, hi), sets.SumTo(s, axis=-1)]
    return members, lambda x: [sign * increasing(x) >= step, x >= lo, x <= hi, cp.sum(x) == s]


def _monotone_capped(rng, n):
    lo, hi = -rng.uniform(0, 1), rng.uniform(0.3, 2)
    s = rng.uniform(n * lo, n * hi)
    return [sets.Monotone(axis=-1), sets.CappedSimplex(s, lo, hi, axis=-1)], lambda x: [
        increasing(x) >= 0,
        x >= lo,
        x <= hi,
        cp.sum(x) == s,
    ]


def _monotone_box(rng, n):
    lo, hi = -rng.uniform(0, 1), rng.uniform(0, 1)
    return [sets.Monotone(False, axis=-1), sets.Box(lo, hi), sets.NonNegative()], lambda x: [
        increasing(x) <= 0,
        x >= max(lo, 0),
        x <= hi,
    ]


def _box_ball(rng, n):
    lo, hi, r = -rng.uniform(0, 1), rng.uniform(0.1, 1), rng.uniform(0.2, 2)
    return [sets.Box(lo, hi), sets.L2Ball(r, axis=-1)], lambda x: [
        x >= lo,
        x <= hi,
        cp.sum_squares(x) <= r**2,
    ]


def _simplex_ball(rng, n):
    r = rng.uniform(1 / math.sqrt(n), 1.2)
    return [sets.Simplex(axis=-1), sets.L2Ball(r, axis=-1)], lambda x: [
        x >= 0,
        cp.sum(x) == 1,
        cp.sum_squares(x) <= r**2,
    ]


def _cone_ball(rng, n):
    r = rng.uniform(0.2, 2)
    return [sets.Monotone(min_value=0.0, axis=-1), sets.L2Ball(r, axis=-1)], lambda x: [
        increasing(x) >= 0,
        x >= 0,
        cp.sum_squares(x) <= r**2,
    ]


def _sum_ball(rng, n):
    s = rng.normal()
    r = abs(s) / math.sqrt(n) + rng.uniform(0.01, 2)
    return [sets.SumTo(s, axis=-1), sets.L2Ball(r, axis=-1)], lambda x: [
        cp.sum(x) == s,
        cp.sum_squares(x) <= r**2,
    ]


RULES = {
    "sum and box: capped simplex": _sum_box,
    "sum and orthant: simplex": _sum_non_negative,
    "sum and lower bound: shifted simplex": _sum_above,
    "sum and upper bound: shifted simplex": _sum_below,
    "monotone and simplex": _monotone_simplex,
    "monotone and sum": _monotone_sum,
    "monotone with steps, box and sum": _monotone_box_sum,
    "monotone and capped simplex": _monotone_capped,
    "monotone and boxes": _monotone_box,
    "box and ball": _box_ball,
    "simplex and ball": _simplex_ball,
    "monotone cone and ball": _cone_ball,
    "sum and ball": _sum_ball,
}


def nearest(y, constraints_of):
    """The solver's projection of every row of ``y``."""
    n = y.shape[1]
    x, point = cp.Variable(n), cp.Parameter(n)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - point)), constraints_of(x))
    out = []
    for row in y:
        point.value = row
        problem.solve(
            solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=500
        )
        assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
        out.append(x.value)
    return np.array(out)


def instances(rule, rng, method="auto", sweeps=1000):
    """(y, ours, the solver's, members) for PER_SIZE rows at each size."""
    for n in SIZES:
        members, constraints_of = RULES[rule](rng, n)
        y = rng.normal(size=(PER_SIZE, n)) * rng.uniform(0.1, 5)
        project = applied(
            sets.Intersect(*members, method=method, sweeps=sweeps), tensorflow_graph=True
        )
        ours = project(tensor(y, "float64"))
        yield y, as_f64(ours), nearest(y, constraints_of), members


@needs_float64
@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_exact_rule_is_the_solvers_projection(rule, rng):
    """Within 1e-5 of the solver, or feasible and no farther from the weight
    than the solver's own point (to the solver's tolerance, 1e-9 of the squared
    distance): on the rules with a ball (a second-order cone) the solver's point
    is off by up to 2.5e-5, and ours is then at least as near."""
    worst = 0.0
    for y, ours, ref, members in instances(rule, rng):
        residual = float(sets.Intersect(*members).residual(tensor(ours, "float64")))
        assert residual <= 1e-12 * max(1.0, float(np.abs(ours).max())), residual
        error = np.abs(ours - ref).max(axis=1)
        theirs = ((ref - y) ** 2).sum(axis=1)
        nearer = ((ours - y) ** 2).sum(axis=1) <= theirs + 1e-9 * np.maximum(1.0, theirs)
        worst = max(worst, float(np.where(nearer, 0.0, error).max()))
    assert worst <= 1e-5, worst


DYKSTRA_PAIRS = ("box and ball", "simplex and ball", "monotone with steps, box and sum")


@needs_float64
@pytest.mark.parametrize("rule", DYKSTRA_PAIRS)
def test_dykstra_reaches_the_solver_at_its_default_sweeps(rule, rng):
    runs = instances(rule, rng, method="dykstra")
    worst = max(float(np.abs(ours - ref).max()) for _, ours, ref, _ in runs)
    assert worst <= 1e-3, worst


def test_the_exact_rules_are_used_where_they_apply(rng):
    """A rule's result is reached in one pass: no Dykstra sweep could leave it
    this close to feasible for every member after 1 sweep."""
    y = rng.normal(size=(50, 9)) * 3
    for rule in RULES:
        members, _ = RULES[rule](rng, 9)
        got = sets.Intersect(*members, sweeps=1).project(tensor(y, "float32"))
        residual = float(sets.Intersect(*members).residual(got))
        assert residual <= 1e-5 * max(1.0, float(np.abs(as_f64(got)).max())), (rule, residual)


def test_the_residual_is_reported_when_the_sweeps_run_out(rng):
    y = tensor(rng.normal(size=(6, 6)) * 3, "float32")
    pair = [sets.Simplex(1.0, axis=0), sets.SumTo(1.0, axis=1)]  # no rule joins them
    short = sets.Intersect(*pair, sweeps=2)
    long = sets.Intersect(*pair, sweeps=1000)
    cut = float(short.residual(short.project(y)))
    done = float(long.residual(long.project(y)))
    assert cut > 1e-3
    assert done <= 1e-4
    # the residual is the largest distance to a member
    w = short.project(y)
    distances = [np.linalg.norm(as_f64(w) - as_f64(m.project(w))) for m in pair]
    np.testing.assert_allclose(cut, max(distances), rtol=1e-5)
    assert distances[-1] <= 1e-6  # the last member holds exactly


def test_intersections_flatten_and_round_trip():
    inner = sets.Intersect(sets.SumTo(1.0), sets.Box(-1.0, 5.0))
    outer = sets.Intersect(inner, sets.L2Ball(3.0), sweeps=50)
    assert len(outer.sets) == 3
    assert sets.Intersect.from_config(outer.get_config()) == outer
    built = constraints.get(keras.saving.serialize_keras_object(constraints.Intersect(*outer.sets)))
    assert isinstance(built, constraints.Intersect)
    assert built.sets == outer.sets


def test_the_companion_is_the_sum_of_the_members_companions():
    w = np.array([[6.0, -2.0], [0.5, 0.5]])
    members = [constraints.SumTo(1.0, axis=-1), constraints.Box(-1.0, 5.0)]
    penalty = constraints.Intersect(*members).penalty(strength=0.5, power=2)
    assert isinstance(penalty, regularizers.IntersectPenalty)
    expected = sum(float(m.penalty(strength=0.5, power=2)(w)) for m in members)
    np.testing.assert_allclose(float(penalty(w)), expected, rtol=1e-6)
    assert float(penalty(np.array([[2.0, -1.0], [0.5, 0.5]]))) == 0.0  # zero on the set


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sets.Intersect(sets.Box(0.0, 1.0), sets.Box(2.0, 3.0)), "no value"),
        (lambda: sets.Intersect(sets.Sphere(1.0), sets.SumTo(0.0)), "Sphere is not convex"),
        (lambda: sets.Intersect(keras.constraints.NonNeg()), "`sets`"),
        (lambda: sets.Intersect({"class_name": "Nope", "config": {}}), "unknown set"),
        (lambda: sets.Intersect(), "at least one"),
        (lambda: sets.Intersect(sets.Box(0.0, 1.0), sweeps=0), "`sweeps`"),
        (lambda: sets.Intersect(sets.Box(0.0, 1.0), method="fast"), "`method`"),
    ],
)
def test_bad_arguments_name_the_parameter(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "members, shape, match",
    [
        ([sets.SumTo(10.0), sets.Box(0.0, 1.0)], (4,), "n=4"),
        ([sets.SumTo(1.0), sets.L2Ball(0.1)], (4,), "misses"),
        ([sets.Box(0.5, 1.0), sets.L2Ball(0.1)], (4,), "misses"),
        ([sets.Monotone(min_step=1.0), sets.Box(0.0, 1.0), sets.SumTo(0.5)], (4,), "min_step"),
        ([sets.Monotone(axis=3), sets.SumTo(1.0)], (4, 2), "axis"),
    ],
)
def test_an_impossible_weight_raises_on_first_use(members, shape, match):
    with pytest.raises(ValueError, match=match):
        constraints.Intersect(*members)(np.zeros(shape, "float32"))


@pytest.mark.parametrize(
    "value, low, high", [(-2.0, -1.0, 0.0), (2.0, 0.0, 1.0), (-3.0, -1.5, -1.0), (0.0, 0.0, 0.0)]
)
def test_a_sum_at_the_edge_of_the_box_fits(value, low, high):
    # Only one point fits: every entry at the bound (found by hypothesis at -2, [-1, 0]).
    edge = low if value == 2 * low else high
    out = as_f64(constraints.Intersect(sets.SumTo(value), sets.Box(low, high))(np.zeros(2)))
    np.testing.assert_allclose(out, [edge, edge], atol=1e-15)


def test_every_package_set_is_known_by_name_for_saved_members():
    from keras_kernel_constraints.sets._base import PACKAGE_SETS

    assert {cls.__name__: cls for cls in sets.ALL_SETS} == PACKAGE_SETS


@pytest.mark.parametrize(
    "dtype, scale", [("float32", 1e30), pytest.param("float64", 1e300, marks=needs_float64)]
)
@pytest.mark.parametrize(
    "members",
    [
        [sets.Box(-1.0, 1.0), sets.L2Ball(1.5, axis=-1)],
        [sets.Simplex(axis=-1), sets.L2Ball(0.6, axis=-1)],
        [sets.Monotone(axis=-1), sets.SumTo(1.0, axis=-1), sets.L2Ball(2.0, axis=-1)],
    ],
    ids=["box", "simplex", "monotone sum"],
)
def test_the_ball_search_reaches_weights_of_any_scale(members, dtype, scale, rng):
    y = rng.normal(size=(20, 7)) * scale
    y[0] = 0.0
    got = as_f64(sets.Intersect(*members).project(tensor(y, dtype)))
    assert np.all(np.isfinite(got))
    eps = 2.0**-23 if dtype == "float32" else 2.0**-52
    for m in members:
        assert np.linalg.norm(got - as_f64(m.project(tensor(got, dtype)))) <= 16 * eps * 7
