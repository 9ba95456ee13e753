"""Specs of the simplex, the capped simplex and the l1 ball.

References: the simplex by sorting (Held, Wolfe & Crowder; the library
bisects), the capped simplex by a float64 bisection on the dual variable run
to 200 halvings, the l1 ball through the sorted simplex of ``|w|``.
"""

import hypothesis.strategies as st
import numpy as np

from tests.specs import Spec, group_axes, group_size, rows_of, sum_allowance
from tests.specs.affine import BAD_AXES, real, sums


def simplex_rows(rows, value):
    """Sort-based projection of every row onto the simplex of sum ``value``."""
    u = -np.sort(-rows, axis=-1)
    cumulative = np.cumsum(u, axis=-1)
    k = np.arange(1, rows.shape[-1] + 1)
    support = np.sum(u - (cumulative - value) / k > 0, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, support - 1, axis=-1) - value) / support
    return np.maximum(rows - tau, 0.0)


def bisect_tau(rows, value, lo, hi, iterations=200):
    """tau with sum(clip(rows - tau, lo, hi)) = value, per row, in float64."""
    left = (rows - hi).min(axis=-1, keepdims=True) - 1
    right = (rows - lo).max(axis=-1, keepdims=True) + 1
    for _ in range(iterations):
        mid = 0.5 * (left + right)
        above = np.clip(rows - mid, lo, hi).sum(axis=-1, keepdims=True) > value
        left, right = np.where(above, mid, left), np.where(above, right, mid)
    return 0.5 * (left + right)


def capped_rows(rows, value, lo, hi):
    return np.clip(rows - bisect_tau(rows, value, lo, hi), lo, hi)


def l1_rows(rows, radius):
    inside = np.abs(rows).sum(axis=-1, keepdims=True) <= radius
    return np.where(inside, rows, np.sign(rows) * simplex_rows(np.abs(rows), radius))


def by_rows(project):
    """A reference on ``(groups, n)`` rows, applied to a weight's groups."""

    def reference(params, w):
        rows, back = rows_of(w, group_axes(params["axis"], w.ndim))
        return back(project(rows, params))

    return reference


@st.composite
def capped_params(draw, shape, axis):
    axes = group_axes(axis, len(shape))
    n = max(1, int(np.prod([shape[a] for a in axes])))
    trailing = axes == tuple(range(len(shape) - len(axes), len(shape)))
    if axes and trailing and 0 not in shape and draw(st.booleans()):
        # Per-entry bounds shaped like one group (its axes are the trailing ones),
        # so every group has the same bounds and one value fits them all.
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        group_shape = tuple(shape[a] for a in axes)
        low = rng.uniform(-2.0, 1.0, size=group_shape)
        high = low + rng.uniform(0.0, 2.0, size=group_shape)
        value = low.sum() + draw(real(0.0, 1.0)) * (high.sum() - low.sum())
        return {"value": value, "min_value": low.tolist(), "max_value": high.tolist(), "axis": axis}
    lo = draw(real(-2.0, 1.0))
    hi = lo + draw(real(0.0, 2.0))
    value = n * lo + draw(real(0.0, 1.0)) * n * (hi - lo)
    return {"value": value, "min_value": lo, "max_value": hi, "axis": axis}


def capped_bounds(params, w):
    """The bounds broadcast to ``w``, as float64 arrays."""
    return tuple(
        np.broadcast_to(np.asarray(params[key], np.float64), w.shape)
        for key in ("min_value", "max_value")
    )


def capped_reference(params, w):
    axes = group_axes(params["axis"], w.ndim)
    rows, back = rows_of(w, axes)
    lo, hi = (rows_of(bound, axes)[0] for bound in capped_bounds(params, w))
    return back(capped_rows(rows, params["value"], lo, hi))


def capped_violation(params, w):
    lo, hi = capped_bounds(params, w)
    return max(
        float((lo - w).max()),
        float((w - hi).max()),
        float(np.abs(sums(params, w) - params["value"]).max()),
        0.0,
    )


def capped_touches(params, w, dtype):
    tol = sum_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    lo, hi = capped_bounds(params, w)
    return bool(np.any(w <= lo + tol) or np.any(w >= hi - tol))


def l1_norms(params, w):
    return np.abs(w).sum(axis=group_axes(params["axis"], w.ndim))


SPECS = (
    Spec(
        name="Simplex",
        layout="groups",
        params=lambda shape, axis: real(0.01, 10.0).map(lambda v: {"value": v, "axis": axis}),
        examples=({"value": 1.0, "axis": None}, {"value": 2.0, "axis": [0, 1]}),
        violation=lambda params, w: max(
            -w.min(), float(np.abs(sums(params, w) - params["value"]).max()), 0.0
        ),
        allowance=sum_allowance,
        touches_boundary=lambda params, w, dtype: bool(np.any(w == 0.0)),
        reference=by_rows(lambda rows, p: simplex_rows(rows, p["value"])),
        bad_arguments=(
            ({"value": 0.0}, "value"),
            ({"value": -1.0}, "value"),
            ({"value": float("inf")}, "value"),
            ({"value": float("nan")}, "value"),
            ({"value": "1"}, "value"),
            ({"axis": [1, 1]}, "axis"),
            *BAD_AXES,
        ),
        sums=True,
        function="project_simplex",
        extremes=(
            ({"value": 1.0, "axis": None}, [1e9, 0.0], "float32", [1.0, 0.0]),
            ({"value": 1.0, "axis": None}, [1e17, 0.0], "float64", [1.0, 0.0]),
            ({"value": 1.0, "axis": None}, [-1e9, -1e9 - 64, 5.0], "float32", [0.0, 0.0, 1.0]),
            ({"value": 2.0, "axis": None}, [3e38, 3e38, -3e38], "float32", [1.0, 1.0, 0.0]),
        ),
        penalty="SimplexPenalty",
    ),
    Spec(
        name="CappedSimplex",
        layout="groups",
        params=capped_params,
        examples=(
            {"value": 1.0, "min_value": 0.0, "max_value": 0.2, "axis": None},
            {"value": 0.0, "min_value": -1.0, "max_value": 1.0, "axis": -1},
            # Rows of 6 (the last axis of every shape below), each entry in its own interval.
            {
                "value": 1.0,
                "min_value": [-0.2, -0.1, 0.0, 0.0, 0.0, -0.5],
                "max_value": [0.5, 0.5, 0.3, 0.3, 1.0, 0.2],
                "axis": -1,
            },
        ),
        violation=capped_violation,
        allowance=sum_allowance,
        touches_boundary=capped_touches,
        reference=capped_reference,
        bad_arguments=(
            ({"value": float("nan")}, "value"),
            ({"value": 1.0, "min_value": 0.5, "max_value": 0.1}, "min_value"),
            ({"value": 1.0, "min_value": 0.0, "max_value": float("inf")}, "max_value"),
            ({"value": 1.0, "min_value": [0.0, 0.5], "max_value": [1.0, 0.1]}, "min_value"),
            ({"value": 1.0, "min_value": [0.0, -np.inf], "max_value": 1.0}, "min_value"),
            ({"value": 1.0, "min_value": 0.0, "max_value": [1.0, np.inf]}, "max_value"),
            ({"value": 1.0, "min_value": None, "max_value": [1.0, 2.0]}, "min_value"),
            *BAD_AXES,
        ),
        shapes=((3, 3, 4, 6), (5, 6)),
        sums=True,
        function="project_capped_simplex",
        extremes=(
            (
                {"value": 1.0, "min_value": 0.0, "max_value": 1.0, "axis": None},
                [1e9] * 3,
                "float32",
                [1 / 3] * 3,
            ),
            (
                {"value": 1.0, "min_value": 0.0, "max_value": 0.5, "axis": None},
                [1e9, 1e9, 0.0],
                "float32",
                [0.5, 0.5, 0.0],
            ),
        ),
    ),
    Spec(
        name="L1Ball",
        layout="groups",
        params=lambda shape, axis: real(0.01, 10.0).map(lambda r: {"radius": r, "axis": axis}),
        examples=({"radius": 0.5, "axis": None},),
        violation=lambda params, w: max(0.0, float((l1_norms(params, w) - params["radius"]).max())),
        allowance=sum_allowance,
        touches_boundary=lambda params, w, dtype: bool(
            np.any(
                np.abs(l1_norms(params, w) - params["radius"])
                <= sum_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
            )
        ),
        reference=by_rows(lambda rows, p: l1_rows(rows, p["radius"])),
        bad_arguments=(
            ({"radius": 0.0}, "radius"),
            ({"radius": -2.0}, "radius"),
            ({"radius": None}, "radius"),
            *BAD_AXES,
        ),
        sums=True,
        function="project_l1_ball",
        extremes=(({"radius": 1.0, "axis": None}, [1e8, 0.0], "float32", [1.0, 0.0]),),
    ),
)

__all__ = ["SPECS", "bisect_tau", "capped_rows", "group_size", "l1_rows", "simplex_rows"]
