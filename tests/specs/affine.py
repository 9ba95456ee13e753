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
def box_params(draw, shape=()):
    low = draw(real(-10.0, 10.0))
    params = {"min_value": low, "max_value": low + draw(real(0.0, 10.0))}
    # One side open (None or an infinity) in about one draw in three.
    side = draw(st.sampled_from(["closed", "closed", "no_min", "no_max"]))
    if side != "closed":
        key, infinity = ("min_value", -np.inf) if side == "no_min" else ("max_value", np.inf)
        params[key] = draw(st.sampled_from([None, infinity]))
    if shape and draw(st.booleans()):
        params.update(per_entry_bounds(shape, draw(st.integers(0, 2**32 - 1))))
    return params


def per_entry_bounds(shape, seed):
    """Bounds per entry of a trailing slice of ``shape`` (some axes 1: repeated),
    with about one entry in five open on one side."""
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, len(shape) + 1))
    # The library refuses empty bounds: an empty weight gets size-1 axes.
    bound_shape = tuple(
        1 if d == 0 or rng.random() < 0.3 else d for d in shape[len(shape) - rank :]
    )
    low = rng.uniform(-10.0, 10.0, size=bound_shape)
    high = low + rng.uniform(0.0, 10.0, size=bound_shape)
    low[rng.random(bound_shape) < 0.2] = -np.inf
    high[rng.random(bound_shape) < 0.2] = np.inf
    return {"min_value": low.tolist(), "max_value": high.tolist()}


def box_bounds(params):
    """(lo, hi) as float arrays (per entry, or of rank 0), infinities for open sides."""
    lo, hi = params.get("min_value"), params.get("max_value")
    return (
        np.asarray(-np.inf if lo is None else lo, np.float64),
        np.asarray(np.inf if hi is None else hi, np.float64),
    )


def box_violation(params, w):
    lo, hi = box_bounds(params)
    return max(0.0, float((lo - w).max()), float((w - hi).max()))


def sums(params, w):
    return w.sum(axis=group_axes(params.get("axis"), w.ndim))


@st.composite
def sum_to_params(draw, shape, axis):
    """One target, or (one draw in two) one per group: shaped like the group
    sums with the group axes as 1, some other axes 1 too (repeated), and
    leading axes sometimes dropped."""
    if not shape or not draw(st.booleans()):
        return {"value": draw(real(-10.0, 10.0)), "axis": axis}
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    axes = group_axes(axis, len(shape))
    target_shape = tuple(
        1 if a in axes or d == 0 or rng.random() < 0.3 else d for a, d in enumerate(shape)
    )
    target_shape = target_shape[int(rng.integers(0, len(shape))) :] or (1,)
    return {"value": rng.uniform(-10.0, 10.0, size=target_shape).tolist(), "axis": axis}


def sum_to_violation(params, w):
    axes = group_axes(params["axis"], w.ndim)
    return float(np.abs(w.sum(axis=axes, keepdims=True) - np.asarray(params["value"])).max())


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
        params=lambda shape, axis: box_params(shape),
        examples=(
            {"min_value": -0.5, "max_value": 2.0},
            {"min_value": 1e-3, "max_value": None},
            {"min_value": None, "max_value": 5.0},
            # One interval per output unit (the last axis of every shape below).
            {
                "min_value": [-0.5, -0.4, -0.3, -0.2, -0.1, 0.0],
                "max_value": [0.5, 1.0, 1.5, 2.0, np.inf, 3.0],
            },
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
            ({"min_value": [0.0, 2.0], "max_value": [1.0, 1.0]}, "min_value"),
            ({"min_value": [0.0, np.nan], "max_value": 1.0}, "min_value"),
            ({"min_value": [0.0, np.inf], "max_value": None}, "min_value"),
            ({"min_value": None, "max_value": [1.0, -np.inf]}, "max_value"),
            ({"min_value": [[0.0], [1.0, 2.0]], "max_value": None}, "min_value"),
            ({"min_value": [0.0, 0.0], "max_value": [1.0, 1.0, 1.0]}, "min_value"),
            ({"min_value": ["0", "1"], "max_value": None}, "min_value"),
        ),
        shapes=((3, 3, 2, 6), (5, 6)),
        function="project_box",
        penalty="BoxPenalty",
    ),
    Spec(
        name="SumTo",
        layout="groups",
        params=sum_to_params,
        examples=(
            {"value": 1.0, "axis": None},
            {"value": 2.5, "axis": [0, 1]},
            {"value": -1.0, "axis": -1},
            # One target per output unit (the last axis of every shape below).
            {"value": [1.0, 2.0, -1.0, 0.5, 0.0, 3.0], "axis": None},
        ),
        violation=sum_to_violation,
        allowance=sum_allowance,
        touches_boundary=lambda params, w, dtype: True,  # an equality: all boundary
        reference=sum_to_reference,
        bad_arguments=(
            ({"value": "one"}, "value"),
            ({"value": "1"}, "value"),
            ({"value": None}, "value"),
            ({"value": True}, "value"),
            ({"value": float("-inf")}, "value"),
            ({"value": [1.0, float("nan")]}, "value"),
            ({"value": [1.0, float("inf")]}, "value"),
            ({"value": [[1.0], [1.0, 2.0]]}, "value"),
            ({"value": ["1", "2"]}, "value"),
            *BAD_AXES,
        ),
        shapes=((3, 3, 2, 6), (5, 6)),
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
