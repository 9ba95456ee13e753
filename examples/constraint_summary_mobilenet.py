"""Attach rules to a MobileNetV2 built without weights, then see what they do.

    python examples/constraint_summary_mobilenet.py

``attach`` checks every rule against every matched weight, resolves
``axis="units"`` per layer kind (one group per output unit: per filter for
Conv2D, per channel for DepthwiseConv2D, per class for the Dense head) and
projects at once; ``constraint_summary`` prints what one group is for each
constrained weight. The last rule is a deliberate mistake the summary
flags: a Conv2D recipe's ``axis=(0, 1, 2)`` on depthwise kernels.
"""

from __future__ import annotations

import warnings

import keras

from keras_kernel_constraints.constraints import L2Ball, NonNeg, SumTo
from keras_kernel_constraints.inspection import constraint_summary
from keras_kernel_constraints.training import Rule, attach


def main() -> None:
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    attach(
        model,
        [
            Rule("Conv1", "kernel", SumTo(1.0, axis="units")),
            Rule(keras.layers.DepthwiseConv2D, "kernel", L2Ball(1.0, axis="units")),
            Rule("predictions", ("kernel", "bias"), NonNeg()),
            Rule("block_16_depthwise", "kernel", SumTo(1.0, axis=(0, 1, 2))),  # a mistake
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table marks them with "!" and explains below
        constraint_summary(model)


if __name__ == "__main__":
    main()
