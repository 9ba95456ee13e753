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
    left = rows.min(axis=-1, keepdims=True) - hi - 1
    right = rows.max(axis=-1, keepdims=True) - lo + 1
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
    n = max(1, int(np.prod([shape[a] for a in group_axes(axis, len(shape))])))
    lo = draw(real(-2.0, 1.0))
    hi = lo + draw(real(0.0, 2.0))
    value = n * lo + draw(real(0.0, 1.0)) * n * (hi - lo)
    return {"value": value, "min_value": lo, "max_value": hi, "axis": axis}


def capped_touches(params, w, dtype):
    tol = sum_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    return bool(np.any(w <= params["min_value"] + tol) or np.any(w >= params["max_value"] - tol))


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
        ),
        violation=lambda params, w: max(
            params["min_value"] - w.min(),
            w.max() - params["max_value"],
            float(np.abs(sums(params, w) - params["value"]).max()),
            0.0,
        ),
        allowance=sum_allowance,
        touches_boundary=capped_touches,
        reference=by_rows(
            lambda rows, p: capped_rows(rows, p["value"], p["min_value"], p["max_value"])
        ),
        bad_arguments=(
            ({"value": float("nan")}, "value"),
            ({"value": 1.0, "min_value": 0.5, "max_value": 0.1}, "min_value"),
            ({"value": 1.0, "min_value": 0.0, "max_value": float("inf")}, "max_value"),
            *BAD_AXES,
        ),
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
