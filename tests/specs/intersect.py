"""Spec of intersections: the members' own specs, combined.

A weight is in the intersection when it is in every member, so the violation
is the largest of the members' violations (each from its own spec) and the
rounding allowance the largest of theirs. Exactness is checked against a
convex solver in tests/constraints/test_intersect.py (no reference here).
"""

import hypothesis.strategies as st
import numpy as np

from tests.helpers import EPS
from tests.specs import Spec, group_axes
from tests.specs.affine import real


def member(name, **config):
    return {"class_name": name, "config": config}


def monotone(increasing, axis):
    return member(
        "Monotone",
        increasing=increasing,
        min_value=None,
        max_value=None,
        min_step=0.0,
        axis=axis,
    )


def members(params):
    from tests.specs import ALL_SPECS

    return [(ALL_SPECS[m["class_name"]], m["config"]) for m in params["sets"]]


def violation(params, w):
    return max(spec.violation(config, w) for spec, config in members(params))


def allowance(params, w, dtype, scale):
    """The members' largest allowance; where Dykstra runs (the groupings differ),
    16 eps scale more: it stops once a sweep moves nothing by more than 4 eps
    scale, and the first members then hold to a few times that (4.2 eps
    measured on zero sums along two axes with a box)."""
    own = max(spec.allowance(config, w, dtype, scale) for spec, config in members(params))
    coupled = len({spec.group(config, w.ndim) for spec, config in members(params)} - {()}) > 1
    return own + (16 * EPS[dtype] * scale if coupled else 0.0)


def touches(params, w, dtype):
    return any(spec.touches_boundary(config, w, dtype) for spec, config in members(params))


def groups(params, ndim):
    """The union of the members' groups; every axis when two groupings differ
    (Dykstra then couples the whole weight)."""
    found = {spec.group(config, ndim) for spec, config in members(params)} - {()}
    if len(found) > 1:
        return tuple(range(ndim))
    return found.pop() if found else ()


@st.composite
def intersect_params(draw, shape, axis):
    """An intersection that an exact rule projects, feasible for this shape."""
    axes = group_axes(axis, len(shape))
    n = int(np.prod([shape[a] for a in axes])) if axes else 1
    low = draw(real(-3.0, 0.0))
    high = low + draw(real(0.5, 3.0))
    kind = draw(st.sampled_from(["sum and box", "monotone and simplex", "box and ball"]))
    if kind == "sum and box":
        value = n * (low + draw(real(0.0, 1.0)) * (high - low))
        sets = [
            member("SumTo", value=value, axis=axis),
            member("Box", min_value=low, max_value=high),
        ]
    elif kind == "monotone and simplex":
        ordered = draw(st.integers(-len(shape), len(shape) - 1))
        sets = [
            monotone(draw(st.booleans()), ordered),
            member("Simplex", value=draw(real(0.1, 5.0)), axis=ordered),
        ]
    else:
        sets = [
            member("Box", min_value=min(low, 0.0), max_value=max(high, 0.0)),
            member("L2Ball", radius=draw(real(0.1, 5.0)), axis=axis),
        ]
    return {"sets": sets, "sweeps": 1000, "method": "auto"}


SPECS = (
    Spec(
        name="Intersect",
        layout="groups",
        params=intersect_params,
        examples=(
            # the sharpening kernel: sums to 1 per spatial kernel, every tap in [-1, 5]
            {
                "sets": [
                    member("SumTo", value=1.0, axis=[0, 1]),
                    member("Box", min_value=-1.0, max_value=5.0),
                ],
                "sweeps": 1000,
                "method": "auto",
            },
            # a cumulative profile: non-decreasing and on the simplex, per slice
            {
                "sets": [
                    monotone(True, 0),
                    member("Simplex", value=1.0, axis=0),
                ],
                "sweeps": 1000,
                "method": "auto",
            },
            # a box in a ball: the search on the ball's multiplier
            {
                "sets": [
                    member("Box", min_value=-0.5, max_value=0.5),
                    member("L2Ball", radius=1.0, axis=None),
                ],
                "sweeps": 1000,
                "method": "auto",
            },
            # no rule joins these: Dykstra
            {
                "sets": [
                    member("L1Ball", radius=2.0, axis=None),
                    member("Box", min_value=-0.5, max_value=0.5),
                ],
                "sweeps": 1000,
                "method": "auto",
            },
        ),
        violation=violation,
        allowance=allowance,
        touches_boundary=touches,
        reference=None,
        bad_arguments=(),
        sums=True,
        xla_eps=64.0,
        penalty="IntersectPenalty",
        groups=groups,
    ),
)
