"""Measure 3: elementwise and affine projections against the memory-bound floor.

A projection that reads each entry once and writes it once cannot beat one
read-and-write pass over the same tensor. The floor is ``w * one`` compiled
the same way (``one`` is a runtime argument equal to 1: a literal ``w * 1``
is folded away by XLA and copies nothing). The tensor is large enough
(64 MiB in float32 by default) that every contender is bound by memory, not
by call overhead. Target: at most 1.5 times the floor.

    python -m benchmarks.floor [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing

TITLE = "Memory-bound floor"
TARGET = 1.5
FLOOR = "floor: w * one"


def projections():
    """``{label: (fn of one tensor, target or None)}``; untargeted rows are context."""
    from keras_kernel_constraints import projections as kp

    return {
        "NonNeg": (kp.project_non_negative, TARGET),
        "Box(-0.5, 0.5)": (lambda w: kp.project_box(w, -0.5, 0.5), TARGET),
        "LinfBall(0.5)": (lambda w: kp.project_linf_ball(w, 0.5), TARGET),
        "SumTo(1.0), groups = columns (Dense default)": (
            lambda w: kp.project_sum_to(w, 1.0),
            TARGET,
        ),
        "SumTo(1.0, axis=-1), groups = rows": (
            lambda w: kp.project_sum_to(w, 1.0, axis=-1),
            TARGET,
        ),
        "L2Ball(1.0), groups = columns (not affine: context)": (
            lambda w: kp.project_l2_ball(w, 1.0),
            None,
        ),
    }


def run(sizes: dict, placement: _timing.Placement) -> dict:
    import numpy as np

    shape = tuple(sizes["shape"])
    data = np.random.default_rng(0).normal(size=shape).astype("float32")
    one = np.ones((), "float32")
    cases = {FLOOR: (lambda w, s: w * s, None), **projections()}
    runners = {
        label: _timing.keras_jit(fn, data, placement, *([one] if label == FLOOR else []))
        for label, (fn, _) in cases.items()
    }
    times = _timing.interleaved(
        {k: r.run for k, r in runners.items()}, repeats=sizes["repeats"], warmup=1
    )
    floor = times[FLOOR]
    rows = [
        {
            "contender": label,
            **times[label],
            "ratio": _timing.ratio(times[label], floor),
            "target": target,
        }
        for label, (_, target) in cases.items()
    ]
    megabytes = data.nbytes / 2**20
    return {
        "title": TITLE,
        "setup": (
            f"one float32 tensor of shape {shape} ({megabytes:g} MiB), "
            f"{placement.describe()}, {sizes['repeats']} interleaved rounds; the floor "
            f"moves {2 * megabytes:g} MiB per call "
            f"({2 * data.nbytes / floor['min'] / 1e9:.1f} GB/s at its best)"
        ),
        "rows": rows,
    }


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "floor", *sys.argv[1:]])
