"""Spec of the monotone sequences (with optional bounds and a smallest step).

Reference: scipy's sequential pool-adjacent-violators (a different algorithm
from the library's divide and conquer) after substituting the steps away,
then clipped to the bounds: the exact projection (tests/projections/
test_monotone.py checks that against a QP solver). With per-entry bounds,
a sequential pool-adjacent-violators whose blocks take their mean clipped to
their bounds (``bounded_pav``; against a QP solver in
tests/constraints/test_entry_bounds.py), where the library evaluates a
min-max formula.
"""

import hypothesis.strategies as st
import numpy as np
from scipy import optimize

from tests.helpers import EPS
from tests.specs import Spec, entry_allowance
from tests.specs.affine import real


@st.composite
def monotone_params(draw, shape):
    """Any ordered axis of the shape; bounds and steps feasible for its length."""
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    if 0 not in shape and draw(st.integers(0, 3)) == 0:
        return draw(entry_bound_params(shape, axis))
    step = draw(st.one_of(st.just(0.0), real(0.0, 1.0)))
    low = draw(st.one_of(st.none(), real(-10.0, 10.0)))
    high = draw(st.one_of(st.none(), real(0.0, 10.0)))
    if high is not None:
        high += (low or 0.0) + max(shape[axis] - 1, 0) * step
        if low is not None and high - low < max(shape[axis] - 1, 0) * step:
            step = 0.0  # the sum rounded the tiny step away (1.0 + 1e-38 == 1.0)
    return {
        "increasing": draw(st.booleans()),
        "min_value": low,
        "max_value": high,
        "min_step": step,
        "axis": axis,
    }


@st.composite
def entry_bound_params(draw, shape, axis):
    """Per-entry bounds shaped like the weight around a feasible ordered point:
    every slice has one, some entries are open on a side."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    increasing, step = draw(st.booleans()), draw(st.sampled_from([0.0, 0.0, 0.1]))
    moved = np.moveaxis(np.zeros(shape), axis, -1)
    n = moved.shape[-1]
    center = np.cumsum(rng.uniform(step, step + 1.0, size=moved.shape), axis=-1) - n / 2
    center = np.moveaxis(center if increasing else center[..., ::-1], -1, axis)
    low = center - rng.uniform(0.0, 1.0, size=shape)
    high = center + rng.uniform(0.0, 1.0, size=shape)
    low[rng.random(shape) < 0.2] = -np.inf
    high[rng.random(shape) < 0.2] = np.inf
    return {
        "increasing": increasing,
        "min_value": low.tolist(),
        "max_value": high.tolist(),
        "min_step": step,
        "axis": axis,
    }


def bounds(params, w):
    """The bounds broadcast to ``w`` (infinite where open), as float64 arrays."""
    return tuple(
        np.broadcast_to(np.asarray(default if params[key] is None else params[key], float), w.shape)
        for key, default in (("min_value", -np.inf), ("max_value", np.inf))
    )


def steps(params, w):
    d = np.diff(w, axis=params["axis"])
    return d if params["increasing"] else -d


def violation(params, w):
    """Largest shortfall of a step below ``min_step``, or of a bound."""
    low, high = bounds(params, w)
    return max(
        0.0,
        params["min_step"] - steps(params, w).min(initial=np.inf),
        float((low - w).max(initial=-np.inf)),
        float((w - high).max(initial=-np.inf)),
    )


def touches(params, w, dtype):
    """Active: two neighbours exactly min_step apart (pooled), or a bound."""
    tol = entry_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    low, high = bounds(params, w)
    return bool(
        np.any(np.abs(steps(params, w) - params["min_step"]) <= tol)
        or np.any(np.abs(w - low) <= tol)
        or np.any(np.abs(w - high) <= tol)
    )


def bounded_pav(row, low, high):
    """Sequential pool-adjacent-violators, each block at its mean clipped to the
    largest lower and smallest upper bound of its entries (Best, Chakravarti &
    Ubhaya, 2000; the bounds' monotone envelopes first)."""
    low, high = np.maximum.accumulate(low), np.minimum.accumulate(high[::-1])[::-1]
    blocks = []  # [sum, count, low, high, value]
    for value, lo, hi in zip(row, low, high, strict=True):
        blocks.append([value, 1, lo, hi, min(max(value, lo), hi)])
        while len(blocks) > 1 and blocks[-2][4] > blocks[-1][4]:
            right, left = blocks.pop(), blocks.pop()
            total, count = left[0] + right[0], left[1] + right[1]
            lo, hi = max(left[2], right[2]), min(left[3], right[3])
            blocks.append([total, count, lo, hi, min(max(total / count, lo), hi)])
    return np.concatenate([np.full(b[1], b[4]) for b in blocks])


def reference(params, w):
    if isinstance(params["min_value"], list) or isinstance(params["max_value"], list):
        return entry_reference(params, w)
    moved = np.moveaxis(w, params["axis"], -1)
    rows = moved.reshape(-1, moved.shape[-1])
    if not params["increasing"]:
        rows = rows[:, ::-1]
    n = rows.shape[-1]
    offsets = params["min_step"] * np.arange(n)
    fitted = np.stack([optimize.isotonic_regression(r).x for r in rows - offsets])
    lo = -np.inf if params["min_value"] is None else params["min_value"]
    hi = np.inf if params["max_value"] is None else params["max_value"]
    out = np.clip(fitted, lo, hi - (n - 1) * params["min_step"]) + offsets
    if not params["increasing"]:
        out = out[:, ::-1]
    return np.moveaxis(out.reshape(moved.shape), -1, params["axis"])


def entry_reference(params, w):
    """Bounded pool-adjacent-violators of every slice, with the steps substituted away."""
    axis = params["axis"]
    moved = np.moveaxis(w, axis, -1)
    n = moved.shape[-1]
    rows = moved.reshape(-1, n)
    low, high = (np.moveaxis(b, axis, -1).reshape(-1, n) for b in bounds(params, w))
    if not params["increasing"]:
        rows, low, high = rows[:, ::-1], low[:, ::-1], high[:, ::-1]
    offsets = params["min_step"] * np.arange(n)
    out = np.stack(
        [
            bounded_pav(r - offsets, lo - offsets, hi - offsets) + offsets
            for r, lo, hi in zip(rows, low, high, strict=True)
        ]
    )
    if not params["increasing"]:
        out = out[:, ::-1]
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


SPECS = (
    Spec(
        name="Monotone",
        layout="slices",
        params=lambda shape, axis: monotone_params(shape),
        examples=(
            {"increasing": True, "min_value": None, "max_value": None, "min_step": 0.0, "axis": 0},
            {
                "increasing": False,
                "min_value": -1.0,
                "max_value": 1.0,
                "min_step": 0.05,
                "axis": -1,
            },
            {"increasing": True, "min_value": 0.0, "max_value": None, "min_step": 0.0, "axis": 0},
            # Rows of 6 along the last axis of every shape below, each entry in its own interval.
            {
                "increasing": True,
                "min_value": [-np.inf, -1.0, -0.5, 0.0, 0.0, 0.5],
                "max_value": [0.0, 0.5, 1.0, 1.0, 2.0, np.inf],
                "min_step": 0.0,
                "axis": -1,
            },
        ),
        shapes=((3, 3, 2, 6), (5, 6)),
        violation=violation,
        allowance=entry_allowance,
        touches_boundary=touches,
        reference=reference,
        bad_arguments=(
            ({"min_value": 1.0, "max_value": 0.0}, "`min_value` must be <= `max_value`"),
            ({"min_step": -0.5}, "`min_step` must be a finite number >= 0"),
            ({"min_step": -1.0}, "`min_step`"),
            ({"axis": (0, 1)}, "`axis` must be one int"),
            ({"axis": None}, "`axis` must be one int"),
            ({"increasing": 1}, "`increasing` must be True or False"),
            ({"increasing": "yes"}, "`increasing`"),
            ({"max_value": float("inf")}, "`max_value` must be a finite real number"),
            ({"min_value": [0.0, 0.5], "max_value": [1.0, 0.1]}, "min_value"),
            ({"min_value": [0.0, np.inf]}, "min_value"),
            ({"max_value": [[1.0], [2.0, 3.0]]}, "max_value"),
        ),
        function="project_monotone",
        penalty="MonotonePenalty",
    ),
)


@st.composite
def unimodal_params(draw, shape):
    """Any ordered axis; a free peak or any index of it (negative ones too)."""
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    mode = draw(st.one_of(st.none(), st.integers(-n, n - 1))) if n else None
    return {"mode": mode, "axis": axis}


def _rows(params, w):
    moved = np.moveaxis(w, params["axis"], -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _split_violation(row, j):
    """How far ``row`` is from rising over its first ``j`` entries and falling after."""
    rise, fall = np.diff(row[:j]), np.diff(row[j:])
    return max(0.0, -rise.min(initial=0.0), fall.max(initial=0.0))


def unimodal_violation(params, w):
    """Largest, over slices, order shortfall at the best split (fixed: at the peak)."""
    rows, _ = _rows(params, w)
    n = rows.shape[-1]
    if params["mode"] is None:
        splits = range(n + 1)
    else:
        # Peak at k: the first k + 1 entries rise and the last n - k fall.
        k = params["mode"] % n
        splits = [k + 1]
    worst = 0.0
    for row in rows:
        at_peak = [_split_violation(row, j) for j in splits]
        if params["mode"] is not None:
            k = params["mode"] % n
            at_peak = [max(at_peak[0], row[k + 1] - row[k] if k + 1 < n else 0.0)]
        worst = max(worst, min(at_peak))
    return worst


def unimodal_touches(params, w, dtype):
    """Active: two neighbours equal (a pooled block)."""
    tol = entry_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    return bool(np.any(np.abs(np.diff(w, axis=params["axis"])) <= tol))


def _fixed_peak(row, k):
    """The nearest sequence rising to index ``k`` then falling, by enumeration.

    The solution's top block ``[i, end]`` (holding ``k``) takes the mean of
    ``row`` over it, and the entries left and right of it are the isotonic
    fits of their own parts (their link to the block is slack). Every such
    candidate that rises to ``k`` and falls after is feasible, and the
    solution is one of them: the feasible candidate of least cost is it.
    """
    n = row.size
    best = None
    for i in range(k + 1):
        for end in range(k, n):
            top = np.full(end + 1 - i, row[i : end + 1].mean())
            rise = optimize.isotonic_regression(row[:i]).x if i else row[:0]
            fall = (
                optimize.isotonic_regression(row[end + 1 :], increasing=False).x
                if end + 1 < n
                else row[:0]
            )
            fit = np.concatenate([rise, top, fall])
            if max(rise.max(initial=-np.inf), fall.max(initial=-np.inf)) > top[0]:
                continue
            cost = float(np.sum((fit - row) ** 2))
            if best is None or cost < best[0]:
                best = (cost, fit)
    return best[1]


def unimodal_reference(params, w):
    """Brute force with scipy's isotonic regression: over the split for a free
    peak (Stout, 2008), over the top block for a fixed one."""
    rows, moved_shape = _rows(params, w)
    n = rows.shape[-1]
    out = []
    for row in rows:
        if params["mode"] is not None:
            out.append(_fixed_peak(row, params["mode"] % n) if n > 1 else row)
            continue
        best = None
        for j in range(n + 1):
            rise = optimize.isotonic_regression(row[:j]).x if j else row[:0]
            fall = optimize.isotonic_regression(row[j:], increasing=False).x if j < n else row[:0]
            fit = np.concatenate([rise, fall])
            cost = float(np.sum((fit - row) ** 2))
            if best is None or cost < best[0]:
                best = (cost, fit)
        out.append(best[1])
    back = np.array(out).reshape(moved_shape)
    return np.moveaxis(back, -1, params["axis"])


SPECS += (
    Spec(
        name="Unimodal",
        layout="slices",
        params=lambda shape, axis: unimodal_params(shape),
        examples=(
            {"mode": None, "axis": 0},
            {"mode": 1, "axis": 0},
            {"mode": -1, "axis": -1},
        ),
        violation=unimodal_violation,
        allowance=entry_allowance,
        touches_boundary=unimodal_touches,
        reference=unimodal_reference,
        convex=lambda params: params["mode"] is not None,
        continuous=lambda params: params["mode"] is not None,
        bad_arguments=(
            ({"mode": 1.5}, "`mode` must be None or an int"),
            ({"mode": "peak"}, "`mode`"),
            ({"mode": True}, "`mode`"),
            ({"axis": (0, 1)}, "`axis` must be one int"),
        ),
        function="project_unimodal",
    ),
)


def _second_differences(params, w):
    d2 = np.diff(w, n=2, axis=params["axis"])
    return -d2 if params["sign"] < 0 else d2


def curvature_allowance(params, w, dtype, scale):
    """8 n eps scale for slices of n: the fit's solve and the multipliers' rounding
    (measured: at most 7 eps scale at n = 256 in float32)."""
    n = w.shape[params["axis"]] if w.ndim else 1
    return 8 * n * EPS[dtype] * scale


def curvature_reference(params, w):
    """The dual non-negative least squares, by scipy's NNLS (Lawson-Hanson):
    x = y + D^T lambda with lambda = argmin_{lambda >= 0} |D^T lambda + y|."""
    rows, moved_shape = _rows(params, w)
    n = rows.shape[-1]
    if n < 3:
        return w
    d = np.zeros((n - 2, n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    sign = params["sign"]
    out = np.stack(
        [sign * (sign * r + d.T @ optimize.nnls(d.T, -sign * r, maxiter=50 * n)[0]) for r in rows]
    )
    return np.moveaxis(out.reshape(moved_shape), -1, params["axis"])


def _curvature_spec(name, sign):
    def params(shape, axis):
        return st.integers(-len(shape), len(shape) - 1).map(lambda a: {"axis": a})

    def with_sign(fn):
        return lambda p, *args: fn({**p, "sign": sign}, *args)

    def violation(p, w):
        if w.shape[p["axis"]] < 3:
            return 0.0
        return max(0.0, -float(_second_differences(p, w).min(initial=np.inf)))

    def touches(p, w, dtype):
        if w.shape[p["axis"]] < 3:
            return False
        tol = curvature_allowance(p, w, dtype, max(1.0, float(np.abs(w).max())))
        return bool(np.any(np.abs(_second_differences(p, w)) <= tol))

    return Spec(
        name=name,
        layout="slices",
        params=params,
        examples=({"axis": 0}, {"axis": -1}),
        violation=with_sign(violation),
        allowance=with_sign(curvature_allowance),
        touches_boundary=with_sign(touches),
        reference=with_sign(curvature_reference),
        bad_arguments=(
            ({"axis": (0, 1)}, "`axis` must be one int"),
            ({"axis": None}, "`axis` must be one int"),
        ),
        function="project_convex" if sign > 0 else "project_concave",
        penalty="ConvexityPenalty" if sign > 0 else None,
    )


SPECS += (_curvature_spec("Convex", 1.0), _curvature_spec("Concave", -1.0))
