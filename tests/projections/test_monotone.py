"""Exactness of the monotone projection (isotonic regression, bounds, steps).

References: ``scipy.optimize.isotonic_regression`` (a sequential PAV, a
different algorithm) in float64, and for bounds with steps an SLSQP solve of
the quadratic program written from the set's definition.

Tolerances, ``scale = max(1, max|w|)``: float64 ``64 eps scale``; float32
``16 eps log2(2n) scale`` (partial sums of a pooled block); float16 and
bfloat16: one rounding of the output plus the float32 error, as they are
computed in float32.
"""

import functools
import math

import keras
import numpy as np
import pytest
from scipy import optimize

import keras_kernel_constraints.sets._isotonic as isotonic
from keras_kernel_constraints.projections import project_monotone
from tests.helpers import EPS, FLOAT_DTYPES, as_f64, jit, np_dtype, tensor, to_numpy

# JAX compiles once per shape (seconds each, see ``project``), so the rerun
# under JAX (tests/test_backends.py) covers a representative subset of sizes.
JAX = keras.backend.backend() == "jax"
LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 64, 100, 255, 256, 257, 1000, 4096]
LENGTHS = [1, 2, 3, 9, 64, 257, 1000] if JAX else LENGTHS
KINDS = ["normal", "ties", "sorted", "reversed", "trend", "constant", "spikes"]


def project(w, *args, **kwargs):
    """``project_monotone``, compiled under JAX.

    JAX's eager mode compiles every primitive for every new shape, which for
    this unrolled algorithm takes seconds per shape; one ``jax.jit`` per
    shape is several times cheaper (and is how ``fit`` runs it anyway).
    """
    if not JAX:
        return project_monotone(w, *args, **kwargs)
    return _compiled(args, tuple(sorted(kwargs.items())))(w)


@functools.cache
def _compiled(args, kwargs):
    import jax

    return jax.jit(lambda w: project_monotone(w, *args, **dict(kwargs)))


def reference(rows):
    """Row-wise float64 isotonic regression by scipy's PAV."""
    rows = np.asarray(rows, np.float64)
    if rows.shape[-1] == 0:
        return rows.copy()
    return np.stack([optimize.isotonic_regression(r).x for r in rows])


def sample(kind, rows, n, rng):
    if kind == "normal":
        return rng.normal(size=(rows, n))
    if kind == "ties":
        return rng.integers(0, 4, size=(rows, n)).astype(float)
    if kind == "sorted":
        return np.sort(rng.normal(size=(rows, n)), axis=-1)
    if kind == "reversed":
        return -np.sort(rng.normal(size=(rows, n)), axis=-1)
    if kind == "trend":
        return rng.normal(size=(rows, n)) + np.linspace(0.0, 5.0, n)
    if kind == "constant":
        return np.full((rows, n), 0.7)
    spikes = rng.normal(size=(rows, n)) * 0.01
    spikes[:, rng.integers(0, n, size=3)] += 50.0
    return spikes


def tolerance(dtype, n, scale):
    scale = max(1.0, scale)
    if dtype == "float64":
        return 64 * EPS["float64"] * scale
    f32 = 16 * EPS["float32"] * math.log2(2 * n) * scale
    return f32 if dtype == "float32" else f32 + EPS[dtype] * scale


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_scipy_float64(n, kind, rng):
    y = sample(kind, 6, n, rng)
    out = as_f64(project(tensor(y, "float64"), axis=-1))
    atol = tolerance("float64", n, np.abs(y).max())
    np.testing.assert_allclose(out, reference(y), rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", [1, 9, 777] if JAX else [1, 3, 9, 64, 777, 4096])
@pytest.mark.parametrize("kind", ["normal", "ties", "trend", "spikes"])
def test_matches_scipy_every_dtype(dtype, n, kind, rng):
    w = tensor(sample(kind, 4, n, rng), dtype)
    y = as_f64(w)  # the reference solves the rounded input
    out = project(w, axis=1)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_allclose(
        as_f64(out), reference(y), rtol=0, atol=tolerance(dtype, n, np.abs(y).max())
    )


@pytest.mark.parametrize(
    "dense, budget",
    [(1 << 20, 1), (0, 1 << 40), (0, 1)],
    ids=["dense formula", "one-step search", "multi-step search"],
)
@pytest.mark.parametrize("n", [2, 17, 300] if JAX else [2, 5, 17, 64, 300, 2048])
def test_every_junction_method_is_exact(monkeypatch, dense, budget, n, rng):
    # Short halves evaluate the junction formula everywhere; longer ones
    # search it, in one step (all positions) or several (a few probes per
    # step). Force each method on every level.
    monkeypatch.setattr(isotonic, "_MINMAX_WINDOWS", 0)
    monkeypatch.setattr(isotonic, "_DENSE", dense)
    monkeypatch.setattr(isotonic, "_DENSE_ENTRIES", dense * dense)
    monkeypatch.setattr(isotonic, "_PROBE_BUDGET", budget)
    y = np.concatenate([sample(kind, 2, n, rng) for kind in KINDS])
    fn = jit(lambda w: project_monotone(w, axis=-1)) if JAX else project  # a fresh trace
    out = as_f64(fn(tensor(y, "float64"), axis=-1) if not JAX else fn(tensor(y, "float64")))
    atol = tolerance("float64", n, np.abs(y).max())
    np.testing.assert_allclose(out, reference(y), rtol=0, atol=atol)


@pytest.mark.parametrize("n", [2, 3, 17, 64, 130] if JAX else [2, 3, 5, 8, 17, 33, 64, 100, 130])
def test_min_max_formula_is_exact(monkeypatch, n, rng):
    # Short rows are solved by the formula evaluated everywhere; force it on
    # lengths the default budget would send to the levels, and off again.
    y = np.concatenate([sample(kind, 3, n, rng) for kind in KINDS])
    atol = tolerance("float64", n, np.abs(y).max())
    for windows in (1 << 30, 0):
        monkeypatch.setattr(isotonic, "_MINMAX_WINDOWS", windows)
        fn = jit(lambda w: project_monotone(w, axis=-1)) if JAX else project  # a fresh trace
        out = as_f64(fn(tensor(y, "float64"), axis=-1) if not JAX else fn(tensor(y, "float64")))
        np.testing.assert_allclose(out, reference(y), rtol=0, atol=atol)


BOTH_PATHS = pytest.mark.parametrize("windows", [1 << 30, 0], ids=["min-max", "levels"])


@BOTH_PATHS
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_feasible_input_is_returned_bit_for_bit(monkeypatch, windows, dtype, rng):
    monkeypatch.setattr(isotonic, "_MINMAX_WINDOWS", windows)
    for n in (1, 2, 6, 64, 1000 if not windows else 200):
        w = tensor(np.sort(rng.normal(size=(5, n)), axis=-1), dtype)
        w = tensor(np.sort(as_f64(w), axis=-1), dtype)  # sorted after rounding too
        np.testing.assert_array_equal(to_numpy(project_monotone(w, axis=-1)), to_numpy(w))


@BOTH_PATHS
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_idempotent_bit_for_bit(monkeypatch, windows, dtype, rng):
    monkeypatch.setattr(isotonic, "_MINMAX_WINDOWS", windows)
    w = tensor(sample("normal", 8, 300 if not windows else 100, rng), dtype)
    once = project_monotone(w, axis=-1)
    np.testing.assert_array_equal(to_numpy(project_monotone(once, axis=-1)), to_numpy(once))


@BOTH_PATHS
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sums_near_the_largest_float_do_not_overflow(monkeypatch, windows, dtype):
    # Partial sums of entries near the largest float overflow unless the row
    # is scaled first; unscaled, [big, big, -big, -big] came back unordered.
    monkeypatch.setattr(isotonic, "_MINMAX_WINDOWS", windows)
    big = float(np.finfo(dtype).max)
    rows = np.array(
        [
            [big, big, -big, -big, 0.0, 0.0, 0.0, 0.0, 0.0],
            [big, big, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [-big, big, -big, big, -big, big, big, big, -big],
        ]
    )
    out = as_f64(project_monotone(tensor(rows, dtype), axis=-1))
    assert np.all(np.isfinite(out)) and np.all(np.diff(out, axis=-1) >= 0)
    # The exact solution, computed in float64 on the scaled input.
    expected = reference(rows / big) * big
    np.testing.assert_allclose(out / big, expected / big, rtol=0, atol=16 * EPS[dtype])


def test_output_is_exactly_ordered_in_float32(rng):
    # Rounding may move values, never the order: min/max with one junction
    # value per merge keep every row sorted bit for bit.
    y = sample("spikes", 16, 4096, rng).astype(np.float32) * 1e4
    out = to_numpy(project(tensor(y, "float32"), axis=-1))
    assert np.all(np.diff(out, axis=-1) >= 0)


def test_projection_is_optimal_by_the_kkt_conditions(rng):
    # For isotonic regression: on every block of equal values the residuals
    # sum to 0, and every prefix of a block has residual sum >= 0.
    y = sample("trend", 20, 200, rng)
    x = as_f64(project(tensor(y, "float64"), axis=-1))
    for xr, yr in zip(x, y, strict=True):
        starts = np.flatnonzero(np.r_[True, np.diff(xr) > 1e-12])
        for a, b in zip(starts, np.r_[starts[1:], len(xr)], strict=True):
            residual = np.cumsum(yr[a:b] - xr[a:b])
            assert abs(residual[-1]) <= 1e-9 * max(1, b - a)
            assert residual.min() >= -1e-9 * max(1, b - a)


@pytest.mark.parametrize("increasing", [True, False])
def test_axis_and_direction(increasing, rng):
    y = rng.normal(size=(4, 9, 3))
    out = as_f64(project(tensor(y, "float64"), axis=1, increasing=increasing))
    moved = np.moveaxis(y, 1, -1).reshape(-1, 9)
    expected = reference(moved if increasing else moved[:, ::-1])
    expected = expected if increasing else expected[:, ::-1]
    expected = np.moveaxis(expected.reshape(4, 3, 9), -1, 1)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def qp_reference(y, increasing, lo, hi, step):
    """SLSQP on the set's definition: steps and bounds as linear inequalities."""
    n = len(y)
    sign = 1.0 if increasing else -1.0
    cons = [
        {
            "type": "ineq",
            "fun": lambda p: sign * np.diff(p) - step,
            "jac": lambda p: sign * (np.eye(n)[1:] - np.eye(n)[:-1]),
        }
    ]
    bounds = [(lo, hi)] * n
    start = np.clip(
        np.sort(y)[:: 1 if increasing else -1],
        lo if lo is not None else -np.inf,
        hi if hi is not None else np.inf,
    )
    res = optimize.minimize(
        lambda p: 0.5 * np.sum((p - y) ** 2),
        start,
        jac=lambda p: p - y,
        constraints=cons,
        bounds=bounds,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    return res.x


@pytest.mark.parametrize("increasing", [True, False])
@pytest.mark.parametrize(
    "lo, hi, step",
    [
        (0.0, None, 0.0),
        (None, 0.5, 0.0),
        (-0.3, 0.4, 0.0),
        (None, None, 0.2),
        (0.0, None, 0.1),
        (-1.0, 1.0, 0.25),
        (0.0, 0.8, 0.1),
        (0.0, 0.3, 0.1),
    ],
)
def test_bounds_and_steps_match_a_qp_solver(increasing, lo, hi, step, rng):
    # SLSQP is only approximately optimal; ours must be feasible, at least as
    # good, and close to it (the objective is 1-strongly convex, so a lower
    # objective at a feasible point certifies optimality up to the slack).
    sign = 1.0 if increasing else -1.0
    low, high = -np.inf if lo is None else lo, np.inf if hi is None else hi
    for n in (1, 2, 4, 8) if (hi or 1) - (lo or 0) >= 0.7 else (1, 2, 4):
        for y in rng.normal(size=(6, n)) * 1.5:
            out = as_f64(
                project(
                    tensor(y, "float64"),
                    increasing,
                    axis=0,
                    min_value=lo,
                    max_value=hi,
                    min_step=step,
                )
            )
            ref = qp_reference(y, increasing, lo, hi, step)
            assert np.all(sign * np.diff(out) >= step - 1e-12)
            assert np.all(np.isfinite(out))
            assert out.min() >= low and out.max() <= high
            assert np.sum((out - y) ** 2) <= np.sum((ref - y) ** 2) + 1e-9
            np.testing.assert_allclose(out, ref, atol=1e-4)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_bounds_and_steps_hold_in_every_dtype(dtype, rng):
    w = tensor(rng.normal(size=(50, 12)) * 3, dtype)
    out = as_f64(project(w, axis=-1, min_value=-1.0, max_value=2.0, min_step=0.05))
    eps = EPS[dtype] * 4
    assert out.min() >= -1.0 and out.max() <= 2.0
    assert np.diff(out, axis=-1).min() >= 0.05 - eps * 2
    again = as_f64(
        project(tensor(out, dtype), True, axis=-1, min_value=-1.0, max_value=2.0, min_step=0.05)
    )
    np.testing.assert_allclose(again, out, atol=eps * 4)


def test_bounds_are_rounded_to_the_weight_dtype():
    out = to_numpy(project(tensor([0.1, 0.5], "float16"), min_value=0.3))
    assert out[0] == np.float16(0.3)


def test_length_one_axis_is_a_no_op(rng):
    w = tensor(rng.normal(size=(1, 4)), "float32")
    np.testing.assert_array_equal(to_numpy(project(w, axis=0)), to_numpy(w))
    clipped = to_numpy(project(w, axis=0, min_value=0.0))
    np.testing.assert_array_equal(clipped, np.maximum(to_numpy(w), 0))


def test_empty_weight_passes_through():
    out = project(np.zeros((0, 3)), axis=0)
    assert tuple(out.shape) == (0, 3)


def test_nan_stays_in_its_slice(rng):
    y = rng.normal(size=(4, 10))
    y[2, 5] = np.nan
    out = as_f64(project(tensor(y, "float64"), axis=-1))
    clean = np.delete(np.arange(4), 2)
    np.testing.assert_allclose(out[clean], reference(y[clean]), atol=1e-12)


def test_finite_extremes_give_no_nan():
    big = np.finfo(np.float32).max
    y = np.array([[big, -big, big / 2, -big / 3, 0.0]], np.float32)
    out = to_numpy(project(tensor(y, "float32"), axis=-1))
    assert np.all(np.isfinite(out)) and np.all(np.diff(out) >= 0)


@pytest.mark.parametrize("shape, axis", [((64,), 0), ((9, 3, 5), 0), ((3, 2, 100), -1)])
def test_compiles_with_xla(shape, axis, rng):
    y = rng.normal(size=shape).astype(np.float32)
    fn = jit(lambda w: project_monotone(w, axis=axis, min_value=-0.5, min_step=0.01))
    rows = np.moveaxis(y, axis, -1)
    steps = 0.01 * np.arange(rows.shape[-1])
    flat = rows.reshape(-1, rows.shape[-1]).astype(np.float64) - steps
    expected = np.maximum(reference(flat), -0.5) + steps
    expected = np.moveaxis(expected.reshape(rows.shape), -1, axis)
    np.testing.assert_allclose(to_numpy(fn(tensor(y, "float32"))), expected, atol=1e-5)


def largest_intermediate(n):
    import tensorflow as tf

    graph = (
        tf.function(project_monotone).get_concrete_function(tf.TensorSpec((n,), tf.float32)).graph
    )
    return max(out.shape.num_elements() or 0 for op in graph.get_operations() for out in op.outputs)


def test_memory_is_linear_in_the_length():
    """No intermediate grows like n**2: trace long rows and size every op."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("inspects a TensorFlow graph")
    n = 1 << 14
    small, large = largest_intermediate(n), largest_intermediate(4 * n)
    assert large <= 5 * 4 * n, f"an intermediate holds {large} entries for n={4 * n}"
    assert large <= 4.1 * small, (small, large)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_value": 1.0, "max_value": 0.0}, "min_value"),
        ({"min_step": -0.1}, "min_step"),
        ({"min_value": 0.0, "max_value": 1.0, "min_step": 0.5}, "min_step"),
        ({"axis": 2}, "axis"),
        ({"axis": (0, 1)}, "axis"),
        ({"min_value": float("nan")}, "min_value"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        project_monotone(np.zeros((4, 3)), **kwargs)


def test_scalar_weight_raises():
    with pytest.raises(ValueError, match="rank >= 1"):
        project_monotone(np.float32(1.0))


def test_integer_weight_raises():
    with pytest.raises(ValueError, match="floating-point"):
        project_monotone(np.arange(4))


def test_steps_exactly_feasible_at_the_limit():
    # Bounds exactly (n - 1) * min_step apart leave one feasible point.
    w = tensor([5.0, -3.0, 0.0, 2.0], "float64")
    out = as_f64(project(w, True, axis=0, min_value=0.0, max_value=0.75, min_step=0.25))
    np.testing.assert_allclose(out, [0.0, 0.25, 0.5, 0.75], atol=1e-15)


def test_half_precision_result_rounds_once(rng):
    y = rng.normal(size=(3, 40)).astype(np_dtype("float16"))
    out = as_f64(project(tensor(y, "float16"), axis=-1))
    ref = reference(y.astype(np.float64)).astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(out, ref, atol=EPS["float16"] * np.abs(ref).max())
