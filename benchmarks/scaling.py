"""Measure 4: how simplex and monotone projections scale, with their anchors.

Two sweeps, each point timed with its anchors interleaved (same process):
time vs the group length ``n`` (one group), and time vs the number of
groups (groups of 64 entries). The exponent is the least-squares slope of
log(time) against log(size) over the three largest sizes, where fixed
per-call costs no longer dominate: 1 means linear. The first call of ours at
each size (tracing and XLA compilation, once per shape) is reported too.

    python -m benchmarks.scaling [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing
from benchmarks.throughput import Anchor, _optax, _scipy_isotonic, batch, compare

TITLE = "Scaling"
FIT_POINTS = 3


def families():
    from keras_kernel_constraints import projections as kp

    return {
        "simplex": (
            lambda x: kp.project_simplex(x, 1.0, axis=-1),
            "normal",
            [Anchor("optax projection_simplex", "optax", _optax("projection_simplex", 1.0))],
        ),
        "monotone": (
            lambda x: kp.project_monotone(x, axis=-1),
            "trend",
            [Anchor("scipy isotonic_regression", "scipy", _scipy_isotonic)],
        ),
    }


def exponent(sizes, seconds):
    """Slope of log(seconds) vs log(sizes) over the last ``FIT_POINTS`` points."""
    import numpy as np

    x, y = np.log(sizes[-FIT_POINTS:]), np.log(seconds[-FIT_POINTS:])
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else None


def sweep(shapes, fn, kind, anchors, placement, repeats):
    """One row of timings per shape; every contender's curve and exponent."""
    points = []
    for rows, n in shapes:
        data = batch(rows, n, kind)
        # Anchors accumulate rounding differently over long groups; agreement
        # is checked to a tolerance that grows with the group length.
        points.append(
            compare(fn, anchors, data, placement, repeats, tolerance_scale=max(1.0, n / 1000))
        )
    curves = {}
    for point in points:
        for row in point:
            if "skipped" not in row:
                curves.setdefault(row["contender"], []).append(row)
    return points, curves


def run(sizes: dict, placement: _timing.Placement) -> dict:
    sweeps = {
        "length": [(1, n) for n in sizes["lengths"]],
        "groups": [(g, sizes["n"]) for g in sizes["groups"]],
    }
    results = []
    for family, (fn, kind, anchors) in families().items():
        for axis_label, shapes in sweeps.items():
            xs = [n if axis_label == "length" else rows for rows, n in shapes]
            points, curves = sweep(shapes, fn, kind, anchors, placement, sizes["repeats"])
            results.append(
                {
                    "family": family,
                    "sweep": axis_label,
                    "sizes": xs,
                    "shapes": shapes,
                    "curves": {
                        name: {
                            "min": [r["min"] for r in rows],
                            "median": [r["median"] for r in rows],
                            "first_call_s": [r["first_call_s"] for r in rows],
                            "exponent": exponent(xs[: len(rows)], [r["min"] for r in rows]),
                        }
                        for name, rows in curves.items()
                    },
                    "skipped": sorted(
                        {
                            r["contender"] + ": " + r["skipped"]
                            for point in points
                            for r in point
                            if "skipped" in r
                        }
                    ),
                }
            )
    return {
        "title": TITLE,
        "setup": (
            f"float32, {placement.describe()}; lengths {sizes['lengths']} (one group); "
            f"{sizes['groups']} groups of {sizes['n']}; {sizes['repeats']} interleaved "
            f"rounds per point; exponent = slope over the {FIT_POINTS} largest sizes"
        ),
        "sweeps": results,
    }


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "scaling", *sys.argv[1:]])
