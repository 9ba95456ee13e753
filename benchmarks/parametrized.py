"""Measure 2: training-step overhead of each parametrization, beside its projection.

The benchmark net of the training measure with every kernel parametrized
(``Parametrized`` around the three Conv2D layers and the Dense head: the
kernel is ``f(v)``, computed in every step), next to the same net with the
matching constraint, and an unconstrained twin, all interleaved in one run.
The ratio is the step time over the unconstrained step.

    python -m benchmarks.parametrized [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing, training

TITLE = "Parametrization overhead"

# Target from issue 15: elementwise, affine, softmax and cumsum maps within 10 %.
MAPS = 1.10


def contenders():
    """``{label: (constraint, parametrization, target)}``: each map after its projection."""
    from keras_kernel_constraints import constraints as kc
    from keras_kernel_constraints import parametrizations as kp

    pairs = {
        "Positive()": (kc.NonNeg(), kp.Positive(), MAPS),
        "Box(-0.1, 0.1)": (kc.Box(-0.1, 0.1), kp.Box(-0.1, 0.1), MAPS),
        "SumTo(1.0)": (kc.SumTo(1.0), kp.SumTo(1.0), MAPS),
        "Simplex(1.0)": (kc.Simplex(1.0), kp.Simplex(1.0), MAPS),
        "Monotone()": (kc.Monotone(), kp.Monotone(), MAPS),
        "Sphere(1.0)": (kc.UnitSphere(1.0), kp.Sphere(1.0), MAPS),
        "L2Ball(1.0)": (kc.L2Ball(1.0), kp.L2Ball(1.0), MAPS),
        # 16 quintic Newton-Schulz steps: three matrix products each; no target.
        "Orthogonal()": (None, kp.Orthogonal(), None),
    }
    rows = {}
    for label, (constraint, parametrization, target) in pairs.items():
        if constraint is not None:
            rows[f"projection {type(constraint).__name__}"] = (constraint, None, None)
        rows[f"parametrized {label}"] = (None, parametrization, target)
    return rows


def run(sizes: dict, placement: _timing.Placement) -> dict:
    models = {
        "unconstrained": (None, None, None),
        training.CONTROL: (None, None, None),
        **contenders(),
    }
    return {
        "title": TITLE,
        "setup": training.setup(sizes, placement)
        + "; each 'parametrized' net follows its matching projection ('projection NonNeg' "
        "for Positive, 'projection UnitSphere' for Sphere)",
        "rows": training.timed_rows(models, sizes, placement),
    }


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "parametrized", *sys.argv[1:]])
