"""Specs of the orthant, the box and the sum hyperplane."""

import hypothesis.strategies as st
import numpy as np

from tests.specs import (
    Spec,
    entry_allowance,
    group_axes,
    sum_allowance,
)


def real(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def box_params(draw):
    low = draw(real(-10.0, 10.0))
    params = {"min_value": low, "max_value": low + draw(real(0.0, 10.0))}
    # One side open (None or an infinity) in about one draw in three.
    side = draw(st.sampled_from(["closed", "closed", "no_min", "no_max"]))
    if side != "closed":
        key, infinity = ("min_value", -np.inf) if side == "no_min" else ("max_value", np.inf)
        params[key] = draw(st.sampled_from([None, infinity]))
    return params


def box_bounds(params):
    """(lo, hi) with infinities for open sides."""
    lo, hi = params.get("min_value"), params.get("max_value")
    return (-np.inf if lo is None else lo), (np.inf if hi is None else hi)


def box_violation(params, w):
    lo, hi = box_bounds(params)
    return max(0.0, lo - w.min(), w.max() - hi)


def sums(params, w):
    return w.sum(axis=group_axes(params.get("axis"), w.ndim))


def sum_to_reference(params, w):
    axes = group_axes(params["axis"], w.ndim)
    n = int(np.prod([w.shape[a] for a in axes])) if axes else 1
    return w + (params["value"] - w.sum(axis=axes, keepdims=True)) / n


def box_touches(params, w, dtype):
    tol = entry_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
    return bool(any(np.any(np.abs(w - b) <= tol) for b in box_bounds(params)))


BAD_AXES = (
    ({"axis": 1.5}, "axis"),
    ({"axis": 1.0}, "axis"),
    ({"axis": [0, 0]}, "axis"),
    ({"axis": [0, "1"]}, "axis"),
    ({"axis": []}, "axis"),
    ({"axis": "0"}, "axis"),
    ({"axis": True}, "axis"),
)

SPECS = (
    Spec(
        name="NonNegative",
        layout="elementwise",
        params=lambda shape, axis: st.just({}),
        examples=({},),
        violation=lambda params, w: max(0.0, -w.min()),
        allowance=entry_allowance,
        touches_boundary=lambda params, w, dtype: bool(np.any(w == 0.0)),
        reference=lambda params, w: np.maximum(w, 0.0),
        bad_arguments=(),
        function="project_non_negative",
    ),
    Spec(
        name="Box",
        layout="elementwise",
        params=lambda shape, axis: box_params(),
        examples=(
            {"min_value": -0.5, "max_value": 2.0},
            {"min_value": 1e-3, "max_value": None},
            {"min_value": None, "max_value": 5.0},
        ),
        violation=box_violation,
        allowance=entry_allowance,
        touches_boundary=box_touches,
        reference=lambda params, w: np.clip(w, *box_bounds(params)),
        bad_arguments=(
            ({"min_value": 2.0, "max_value": 1.0}, "min_value"),
            ({"min_value": float("nan"), "max_value": 1.0}, "min_value"),
            ({"min_value": float("inf"), "max_value": None}, "min_value"),
            ({"min_value": None, "max_value": float("-inf")}, "max_value"),
            ({"min_value": 0.0, "max_value": float("nan")}, "max_value"),
            ({"min_value": "0", "max_value": 1.0}, "min_value"),
            ({"min_value": None, "max_value": "1"}, "max_value"),
        ),
        function="project_box",
        penalty="BoxPenalty",
    ),
    Spec(
        name="SumTo",
        layout="groups",
        params=lambda shape, axis: real(-10.0, 10.0).map(lambda v: {"value": v, "axis": axis}),
        examples=(
            {"value": 1.0, "axis": None},
            {"value": 2.5, "axis": [0, 1]},
            {"value": -1.0, "axis": -1},
        ),
        violation=lambda params, w: float(np.abs(sums(params, w) - params["value"]).max()),
        allowance=sum_allowance,
        touches_boundary=lambda params, w, dtype: True,  # an equality: all boundary
        reference=sum_to_reference,
        bad_arguments=(
            ({"value": "one"}, "value"),
            ({"value": "1"}, "value"),
            ({"value": None}, "value"),
            ({"value": True}, "value"),
            ({"value": float("-inf")}, "value"),
            *BAD_AXES,
        ),
        sums=True,
        xla_eps=16.0,
        function="project_sum_to",
        # No overflow: these sum to 0, and w + 1/4 rounds back to w (the target
        # is then met to n * eps * max|w|, the set's stated tolerance).
        extremes=(
            (
                {"value": 1.0, "axis": None},
                [3e38, 3e38, -3e38, -3e38],
                "float32",
                [3e38, 3e38, -3e38, -3e38],
            ),
        ),
        penalty="SumToPenalty",
    ),
)
