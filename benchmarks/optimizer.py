"""Measure 3: training-step overhead of the optimizer wrapper, beside projection alone.

The benchmark net of the training measure, each constraint on every kernel,
trained once with Adam (projection alone) and once with
``optimizers.Projected(Adam)`` (tangent gradients, the projection, and the
first moment moved to the tangent cone), all interleaved in one run with an
unconstrained twin. A wrapped row's ratio is its step time over its own
set's projection-alone step.

    python -m benchmarks.optimizer [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing, training

TITLE = "Optimizer wrapper overhead"

# Target from issue 18: the wrapper within 5 % of projection alone.
WRAPPER = 1.05
PREFIX = "Projected(Adam), "


def contenders():
    """``{label: (constraint, None, target)}``: each set projected, then wrapped."""
    from keras_kernel_constraints import constraints as kc

    constraints = {
        "NonNeg()": kc.NonNeg(),
        "Box(-0.1, 0.1)": kc.Box(-0.1, 0.1),
        "SumTo(1.0)": kc.SumTo(1.0),
        "Simplex(1.0)": kc.Simplex(1.0),
        "Monotone()": kc.Monotone(),
        "UnitSphere(1.0)": kc.UnitSphere(1.0),
        "Orthogonal()": kc.Orthogonal(),
    }
    rows = {}
    for label, constraint in constraints.items():
        rows[f"projection {label}"] = (constraint, None, None)
        rows[PREFIX + label] = (constraint, None, WRAPPER)
    return rows


def run(sizes: dict, placement: _timing.Placement) -> dict:
    models = {"unconstrained": (None, None, None), **contenders()}
    wrapped = frozenset(label for label in models if label.startswith(PREFIX))
    rows = training.timed_rows(models, sizes, placement, wrapped=wrapped)
    by_label = {row["contender"]: row for row in rows}
    for row in rows:
        if row["contender"] in wrapped:
            alone = by_label["projection " + row["contender"][len(PREFIX) :]]
            row["ratio"] = _timing.ratio(row, alone)
            row["extra_ms"] = (row["min"] - alone["min"]) * 1e3
    return {
        "title": TITLE,
        "setup": training.setup(sizes, placement)
        + f"; each '{PREFIX}X' row is divided by its 'projection X' row (Adam alone), "
        "the others by the unconstrained net",
        "rows": rows,
    }


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "optimizer", *sys.argv[1:]])
