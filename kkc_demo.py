"""``kkc-demo``: the quick-start demo's command line, read before Keras is imported.

Importing ``keras_kernel_constraints`` imports Keras, and TensorFlow prints
its start-up logs on import, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. This
module needs only the standard library, so ``kkc-demo --help`` and a
mistyped option answer at once and quietly; the demo itself
(``keras_kernel_constraints.demo``) is imported only to run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

DESCRIPTION = (
    "Learn a sharpening kernel that sums to 1, a non-negative custom weight and a "
    "positive, non-decreasing FIR kernel, each with and without its constraint."
)


def parser() -> argparse.ArgumentParser:
    """The demo's options (shared with ``python -m keras_kernel_constraints``)."""
    options = argparse.ArgumentParser(prog="kkc-demo", description=DESCRIPTION)
    options.add_argument("--out", default="kkc-demo-output", help="folder for the PNG figures")
    options.add_argument("--epochs", type=int, default=40, help="training epochs per model")
    options.add_argument(
        "--starts", type=int, default=5, help="random starting kernels tried in scenario 1"
    )
    options.add_argument("--seed", type=int, default=0, help="random seed")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # --help and bad options exit here, before Keras
    from keras_kernel_constraints import demo

    demo.run_with(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
