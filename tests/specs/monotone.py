"""Spec of the monotone sequences (with optional bounds and a smallest step).

Reference: scipy's sequential pool-adjacent-violators (a different algorithm
from the library's divide and conquer) after substituting the steps away,
then clipped to the bounds: the exact projection (tests/projections/
test_monotone.py checks that against a QP solver).
"""

import hypothesis.strategies as st
import numpy as np
from scipy import optimize

from tests.specs import Spec, entry_allowance
from tests.specs.affine import real


@st.composite
def monotone_params(draw, shape):
    """Any ordered axis of the shape; bounds and steps feasible for its length."""
    axis = draw(st.integers(-len(shape), len(shape) - 1))
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


def steps(params, w):
    d = np.diff(w, axis=params["axis"])
    return d if params["increasing"] else -d


def violation(params, w):
    """Largest shortfall of a step below ``min_step``, or of a bound."""
    worst = [0.0, params["min_step"] - steps(params, w).min(initial=np.inf)]
    if params["min_value"] is not None:
        worst.append(params["min_value"] - w.min())
    if params["max_value"] is not None:
        worst.append(w.max() - params["max_value"])
    return max(worst)


def touches(params, w, dtype):
    """Active: two neighbours exactly min_step apart (pooled), or a bound."""
    tol = entry_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    bounds = [b for b in (params["min_value"], params["max_value"]) if b is not None]
    return bool(
        np.any(np.abs(steps(params, w) - params["min_step"]) <= tol)
        or any(np.any(np.abs(w - b) <= tol) for b in bounds)
    )


def reference(params, w):
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
        ),
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
        ),
        function="project_monotone",
        penalty="MonotonePenalty",
    ),
)
