"""Specs of the l2 ball, the sphere, the norm band and the l-infinity ball.

Reference: the radial map ``w * clip(||w||, a, b) / ||w||`` in float64.
"""

import hypothesis.strategies as st
import numpy as np

from tests.helpers import EPS
from tests.specs import Spec, entry_allowance, group_axes
from tests.specs.affine import BAD_AXES, real


def norms(params, w):
    return np.sqrt((w**2).sum(axis=group_axes(params["axis"], w.ndim)))


def radial(band):
    def reference(params, w):
        lo, hi = band(params)
        norm = np.sqrt((w**2).sum(axis=group_axes(params["axis"], w.ndim), keepdims=True))
        return w * np.clip(norm, lo, hi) / norm

    return reference


def norm_allowance(band):
    """3 eps of the largest norm: the projection's 2 eps slack plus its own norm's error."""

    def allowance(params, w, dtype, scale):
        return 3 * EPS[dtype] * max(1.0, band(params)[1])

    return allowance


def radial_violation(band):
    def violation(params, w):
        lo, hi = band(params)
        n = norms(params, w)
        return max(0.0, float((lo - n).max()), float((n - hi).max()))

    return violation


def radial_touches(band):
    def touches(params, w, dtype):
        lo, hi = band(params)
        tol = norm_allowance(band)(params, w, dtype, 1.0)
        n = norms(params, w)
        bounds = [hi] if lo == 0 else [lo, hi]
        return bool(any(np.any(np.abs(n - b) <= 2 * tol * max(b, 1.0)) for b in bounds))

    return touches


def ball_band(p):
    return 0.0, p["radius"]


def sphere_band(p):
    return p["radius"], p["radius"]


def norm_band(p):
    return p["min_norm"], p["max_norm"]


@st.composite
def band_params(draw, axis):
    low = draw(real(0.0, 5.0))
    return {"min_norm": low, "max_norm": low + draw(real(0.01, 5.0)), "axis": axis}


BAD_RADII = (
    ({"radius": 0.0}, "radius"),
    ({"radius": -1.0}, "radius"),
    ({"radius": float("nan")}, "radius"),
    ({"radius": float("inf")}, "radius"),
)


def radial_spec(name, band, params, examples, bad, **kwargs):
    return Spec(
        name=name,
        layout="groups",
        params=params,
        examples=examples,
        violation=radial_violation(band),
        allowance=norm_allowance(band),
        touches_boundary=radial_touches(band),
        reference=radial(band),
        bad_arguments=bad,
        **kwargs,
    )


SPECS = (
    radial_spec(
        "L2Ball",
        ball_band,
        lambda shape, axis: real(0.01, 10.0).map(lambda r: {"radius": r, "axis": axis}),
        ({"radius": 1.0, "axis": [0, 1]},),
        (*BAD_RADII, *BAD_AXES),
        function="project_l2_ball",
        penalty="L2BallPenalty",
        extremes=(
            ({"radius": 1.0, "axis": None}, [1.5e38, 2e38], "float32", [0.6, 0.8]),
            ({"radius": 1.0, "axis": None}, [3e-30, 4e-30], "float32", [3e-30, 4e-30]),
        ),
    ),
    radial_spec(
        "Sphere",
        sphere_band,
        lambda shape, axis: real(0.01, 10.0).map(lambda r: {"radius": r, "axis": axis}),
        ({"radius": 1.0, "axis": None}, {"radius": 2.0, "axis": -1}),
        (*BAD_RADII, *BAD_AXES),
        convex=lambda params: False,
        function="project_l2_sphere",
    ),
    radial_spec(
        "NormBand",
        norm_band,
        lambda shape, axis: band_params(axis),
        ({"min_norm": 0.5, "max_norm": 1.5, "axis": None},),
        (
            ({"min_norm": 2.0, "max_norm": 1.0}, "min_norm"),
            ({"min_norm": -0.5, "max_norm": 1.0}, "min_norm"),
            ({"min_norm": 0.0, "max_norm": 0.0}, "max_norm"),
            ({"min_norm": 0.0, "max_norm": float("inf")}, "max_norm"),
            *BAD_AXES,
        ),
        convex=lambda params: params["min_norm"] == 0,
        function="project_norm_band",
        penalty="NormBandPenalty",
    ),
    Spec(
        name="LinfBall",
        layout="elementwise",
        params=lambda shape, axis: real(0.01, 10.0).map(lambda r: {"radius": r}),
        examples=({"radius": 0.3},),
        violation=lambda params, w: max(0.0, float(np.abs(w).max()) - params["radius"]),
        allowance=entry_allowance,
        touches_boundary=lambda params, w, dtype: bool(
            np.any(
                np.abs(np.abs(w) - params["radius"])
                <= entry_allowance(params, w, dtype, max(1.0, float(np.abs(w).max())))
            )
        ),
        reference=lambda params, w: np.clip(w, -params["radius"], params["radius"]),
        bad_arguments=BAD_RADII,
        function="project_linf_ball",
    ),
)
