"""The quick-start demo: ``python -m keras_kernel_constraints`` or ``kkc-demo``.

Scenario 1 learns a sharpening kernel whose entries must sum to 1, with the
exact projection ``SumTo(1.0)`` beside the common advice of dividing by the
sum. Scenario 2 trains a custom layer whose ``add_weight`` variable must stay
non-negative, with the hard ``NonNeg`` constraint beside the soft
``NonNegPenalty``. Scenario 3 learns a positive, non-decreasing FIR kernel
with ``Monotone(min_value=0.0)`` on a Conv1D layer, beside an unconstrained
layer and the common ``cumsum(exp(v))`` workaround computed once when the
layer is built (which never trains). A summary table is printed and PNG
figures are written to ``--out`` when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

import keras_kernel_constraints as kkc
import kkc_demo
from keras_kernel_constraints import parametrizations
from keras_kernel_constraints.constraints import Monotone, NonNeg, SumTo
from keras_kernel_constraints.projections import project_sum_to
from keras_kernel_constraints.regularizers import NonNegPenalty

SHARPEN = ((0.0, -1.0, 0.0), (-1.0, 5.0, -1.0), (0.0, -1.0, 0.0))
# A positive, non-decreasing FIR kernel with a plateau (scenario 3): noise
# makes unconstrained estimates of equal taps dip below their neighbours.
FIR = (0.05, 0.1, 0.3, 0.3, 0.3, 0.3, 0.6, 0.8)


@dataclass
class Outcome:
    """One approach of one scenario: the summary row and the numbers behind it."""

    name: str
    result: str
    check: str
    loss: float
    values: dict[str, float] = field(default_factory=dict)


def main(argv=None) -> int:
    run(argv)
    return 0


def run(argv=None) -> dict[str, Outcome]:
    """Parse ``argv`` (the options of ``kkc-demo``) and run the demo."""
    return run_with(kkc_demo.parser().parse_args(argv))


def run_with(args: argparse.Namespace) -> dict[str, Outcome]:
    """Run the three scenarios, print them and a summary; the outcomes by name."""
    keras.utils.set_random_seed(args.seed)
    print(
        f"keras_kernel_constraints {kkc.__version__} demo "
        f"(Keras {keras.__version__}, backend {keras.backend.backend()})\n"
    )

    sharpen = np_sharpen()
    kernels, rows = _sharpening(args, sharpen)
    rows += _non_negative_layer(args)
    fir_rows, taps = _monotone_fir(args)
    rows += fir_rows

    print("\n== Summary ==")
    header = f"{'approach':<44}{'result':<22}{'constraint check':<24}{'loss':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r.name:<44}{r.result:<22}{r.check:<24}{r.loss:>10.3e}")
    _plot(args.out, sharpen, kernels, taps)
    return {r.name: r for r in rows}


def np_sharpen():
    return np.asarray(SHARPEN, dtype="float32")


class _DivideBySum:
    """The common advice, kept here only to show why it fails: ``w / sum(w)``."""

    def __call__(self, w):
        return w / ops.sum(w, axis=(0, 1, 2), keepdims=True)


def _sharpening(args, sharpen):
    print("== 1. A 3x3 kernel that sums to 1: learning a sharpening filter ==")
    near_zero = np.array([0.6, -0.59, 0.0], "float32")
    divided = near_zero / near_zero.sum()
    projected = ops.convert_to_numpy(project_sum_to(near_zero, 1.0))
    print(
        f"on {near_zero} (sum {near_zero.sum():+.2f}): divide by sum gives "
        f"{divided}, the projection gives {np.round(projected, 3)}"
    )

    rng = np.random.default_rng(args.seed)
    images = rng.uniform(0.0, 1.0, size=(256, 16, 16, 1)).astype("float32")
    targets = ops.convert_to_numpy(ops.conv(images, sharpen[:, :, None, None], padding="valid"))
    approaches = (("SumTo(1.0) projection", SumTo(1.0)), ("divide by sum", _DivideBySum()))
    # What each approach makes of the kernel near sum 0: its largest entry and its sum.
    near_zero_result = {
        "SumTo(1.0) projection": {
            "near_zero_max": float(projected.max()),
            "near_zero_sum": float(projected.sum()),
        },
        "divide by sum": {
            "near_zero_max": float(divided.max()),
            "near_zero_sum": float(divided.sum()),
        },
    }

    kernels: dict[str, np.ndarray] = {}
    errors: dict[str, list[float]] = {name: [] for name, _ in approaches}
    worst_sum = {name: 0.0 for name, _ in approaches}
    losses = {}
    for start_index in range(args.starts):
        start = _glorot_kernel(args.seed + start_index)
        if start_index == 0:
            print(f"\nfrom a random starting kernel whose sum is {start.sum():+.3f}:")
        for name, constraint in approaches:
            kernel, sums, loss = _fit_kernel(constraint, start, images, targets, args.epochs)
            errors[name].append(float(np.max(np.abs(kernel - sharpen))))
            gap = float(np.max(np.abs(np.asarray(sums) - 1.0)))  # NaN stays NaN
            worst_sum[name] = gap if np.isnan(gap) else max(worst_sum[name], gap)
            if start_index == 0:
                kernels[name], losses[name] = kernel, loss
                print(
                    f"{name}: max abs error {errors[name][0]:.4f}, final loss {loss:.3e}, "
                    f"|sum - 1| after every epoch <= {gap:.1e}"
                )
                print(np.array2string(kernel, precision=3, suppress_small=True, floatmode="fixed"))

    rows = []
    print(f"\nfrom {args.starts} random starting kernels (recovered: max abs error <= 0.05):")
    for name, _ in approaches:
        ok = sum(e <= 0.05 for e in errors[name])
        print(f"  {name:<24} recovered {ok}/{args.starts}, worst error {max(errors[name]):.3g}")
        rows.append(
            Outcome(
                f"sharpen: {name}",
                f"{ok}/{args.starts} recovered",
                f"|sum - 1| <= {worst_sum[name]:.1e}",
                losses[name],
                {
                    "recovered": ok,
                    "starts": args.starts,
                    "worst_sum_gap": worst_sum[name],
                    "worst_error": max(errors[name]),
                    **near_zero_result[name],
                },
            )
        )
    return kernels, rows


def _glorot_kernel(seed):
    return ops.convert_to_numpy(keras.initializers.GlorotUniform(seed=seed)((3, 3, 1, 1)))


def _fit_kernel(constraint, start, images, targets, epochs):
    """Train a bias-free Conv2D(1, 3) from ``start``; kernel sums after each epoch."""
    layer = keras.layers.Conv2D(
        1,
        3,
        use_bias=False,
        kernel_constraint=constraint,
        kernel_initializer=keras.initializers.Constant(start),
    )
    model = keras.Sequential([keras.Input(images.shape[1:]), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    sums = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: sums.append(float(np.sum(layer.kernel.numpy())))
    )
    history = model.fit(
        images, targets, batch_size=32, epochs=epochs, verbose=0, callbacks=[record]
    )
    return layer.kernel.numpy()[:, :, 0, 0], sums, float(history.history["loss"][-1])


def _non_negative_layer(args):
    print("\n== 2. A custom layer whose add_weight variable must stay >= 0 ==")

    class NonNegativeMixing(keras.layers.Layer):
        """y = x @ w with a weight that must stay non-negative."""

        def __init__(self, constraint=None, regularizer=None, **kwargs):
            super().__init__(**kwargs)
            self.constraint, self.regularizer = constraint, regularizer

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], 1),
                initializer="ones",
                constraint=self.constraint,
                regularizer=self.regularizer,
            )

        def call(self, x):
            return ops.matmul(x, self.w)

    rng = np.random.default_rng(args.seed + 1)
    true_w = np.array([[1.5], [0.8], [-0.6], [0.0], [2.0], [-1.2], [0.3], [0.5]], "float32")
    x = rng.normal(size=(1024, 8)).astype("float32")
    y = x @ true_w + 0.05 * rng.normal(size=(1024, 1)).astype("float32")
    print(f"the best unconstrained weights have negative entries: {true_w[:, 0]}")

    rows = []
    for name, kwargs in (
        ("hard: NonNeg()", {"constraint": NonNeg()}),
        ("soft: NonNegPenalty(0.5)", {"regularizer": NonNegPenalty(strength=0.5)}),
        ("soft: NonNegPenalty(5.0)", {"regularizer": NonNegPenalty(strength=5.0)}),
    ):
        layer = NonNegativeMixing(**kwargs)
        model = keras.Sequential([keras.Input((8,)), layer])
        model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=True)
        model.fit(x, y, batch_size=64, epochs=max(1, args.epochs // 2), verbose=0)
        w = layer.w.numpy()[:, 0]
        mse = _mse(x, y, w)
        print(
            f"{name:<26} min weight {w.min():+.5f}, mse {mse:.4f}, "
            f"weights {np.array2string(w, precision=3, suppress_small=True)}"
        )
        rows.append(
            Outcome(
                f"add_weight: {name}",
                f"mse {mse:.4f}",
                f"min weight {w.min():+.1e}",
                mse,
                {"min_weight": float(w.min()), "mse": mse},
            )
        )
    best = _nnls(x, y)
    print(f"{'reference: exact NNLS':<26} min weight {best.min():+.5f}, mse {_mse(x, y, best):.4f}")
    print(
        "the projection stays exactly feasible and reaches the best feasible fit; the l1 "
        "penalty sees the constraint in its gradient and is exact only when strong enough"
    )
    return rows


class _BuiltOnce(keras.layers.Layer):
    """The common workaround, kept only to show why it fails: a Conv1D kernel
    ``cumsum(exp(v))`` computed once in ``build``. The kernel is then a
    constant; ``v`` gets no gradient and the taps never move, while the bias
    trains, so ``fit`` runs without an error. (On PyTorch the tensor would
    keep the graph of its one computation and the second step would fail;
    ``stop_gradient`` makes it the same constant on every backend.)"""

    def __init__(self, taps, **kwargs):
        super().__init__(**kwargs)
        self.taps = taps

    def build(self, input_shape):
        self.v = self.add_weight(shape=(self.taps, 1, 1), initializer="zeros", name="v")
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")
        self.kernel = ops.stop_gradient(ops.cumsum(ops.exp(self.v - 3.0), axis=0))

    def call(self, x):
        return ops.conv(x, self.kernel) + self.bias


def _monotone_fir(args):
    print("\n== 3. A Conv1D FIR kernel that must be positive and non-decreasing ==")
    fir = np.asarray(FIR, "float32")
    rng = np.random.default_rng(args.seed + 2)
    # Little data, much noise (2 sequences of 20 samples, noise std 1): the
    # least-squares taps break the order (2 to 7 breaks over 10 noise draws)
    # and the constraint cuts the tap error by a quarter to three quarters.
    x = rng.normal(size=(2, 20, 1)).astype("float32")
    clean = ops.convert_to_numpy(ops.conv(x, fir[:, None, None]))
    y = clean + rng.normal(size=clean.shape).astype("float32")
    print(f"target taps {fir}; noisy targets (noise std 1, 2 sequences of 20 samples)")

    start = keras.initializers.Constant(np.linspace(0.5, -0.3, len(fir)).reshape(-1, 1, 1))
    approaches = (
        (
            "Monotone(min_value=0.0)",
            keras.layers.Conv1D(
                1,
                len(fir),
                use_bias=False,
                kernel_constraint=Monotone(min_value=0.0),
                kernel_initializer=start,
            ),
        ),
        *_parametrized_fir(start, len(fir)),
        (
            "unconstrained",
            keras.layers.Conv1D(1, len(fir), use_bias=False, kernel_initializer=start),
        ),
        ("cumsum(exp(v)) built once", _BuiltOnce(len(fir))),
    )
    rows, taps = [], {"target": fir}
    for name, layer in approaches:
        # Plain gradient steps: projected after each, they reach the constrained
        # optimum, where Adam's per-weight step sizes followed by the Euclidean
        # projection can stop short of it (docs/pitfalls.md). A parametrization
        # needs Adam's scale-free steps instead: its decreasing start is
        # projected to equal taps, where softplus is nearly flat, and plain
        # steps would barely move them (docs/mechanisms.md).
        parametrized = isinstance(layer, parametrizations.Parametrized)
        optimizer = keras.optimizers.Adam(0.05) if parametrized else keras.optimizers.SGD(0.1)
        learned, row = _fit_fir(name, layer, x, y, fir, args.epochs, optimizer)
        rows.append(row)
        taps[name] = learned
    print(
        "the projection keeps every epoch's kernel positive and ordered while it trains, "
        "and is closer to the target; noise breaks the unconstrained taps' order; the "
        "kernel built once never moves"
    )
    return rows, taps


def _parametrized_fir(start, taps):
    """The kernel as f(v), computed in every step: cumsum(exp(v)) done so that it
    trains; nothing (said so) on a Keras too old for parametrizations."""
    try:
        layer = parametrizations.Parametrized(
            keras.layers.Conv1D(1, taps, use_bias=False, kernel_initializer=start),
            {"kernel": parametrizations.Monotone(min_value=0.0)},
        )
    except ValueError as error:
        print(f"(no parametrized kernel: {error})")
        return []
    return [("parametrized Monotone(min_value=0.0)", layer)]


def _fit_fir(name, layer, x, y, fir, epochs, optimizer):
    """Train ``layer`` alone on (x, y); report error, movement and feasibility."""
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile(optimizer, "mse", jit_compile=True)

    def taps():
        if isinstance(layer, parametrizations.Parametrized):
            return ops.convert_to_numpy(layer.effective_weight("kernel"))[:, 0, 0]
        return ops.convert_to_numpy(layer.kernel)[:, 0, 0]

    before, feasible = taps(), []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: feasible.append(
            bool(taps().min() >= 0 and np.diff(taps()).min() >= 0)
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Full-batch steps, 10 per epoch: each fit ends near its least-squares optimum.
        history = model.fit(
            np.tile(x, (10, 1, 1)),
            np.tile(y, (10, 1, 1)),
            batch_size=len(x),
            shuffle=False,
            epochs=epochs,
            verbose=0,
            callbacks=[record],
        )
    if any("Gradients do not exist" in str(w.message) for w in caught):
        print(f"{name}: Keras warned that v gets no gradient; easy to miss in a long log")
    learned = taps()
    error = float(np.sqrt(np.mean((learned - fir) ** 2)))
    moved = float(np.max(np.abs(learned - before)))
    breaks = int(np.sum(np.diff(learned) < 0) + np.sum(learned < 0))
    check = f"ordered, >= 0: {sum(feasible)}/{len(feasible)} ep"
    print(
        f"{name:<37} rms tap error {error:.3f}, taps moved {moved:.3f}, {check}, "
        f"{breaks} order/sign breaks; taps "
        f"{np.array2string(learned, precision=3, suppress_small=True)}"
    )
    row = Outcome(
        f"FIR: {name}",
        f"rms error {error:.3f}",
        check,
        float(history.history["loss"][-1]),
        {
            "rms_error": error,
            "moved": moved,
            "breaks": breaks,
            "feasible_epochs": sum(feasible),
            "epochs": len(feasible),
        },
    )
    return learned, row


def _mse(x, y, w):
    return float(np.mean((x @ w[:, None] - y) ** 2))


def _nnls(x, y, steps=5000):
    """Non-negative least squares by projected gradient, as an independent reference."""
    gram, rhs = x.T @ x, (x.T @ y)[:, 0]
    step = 1.0 / np.linalg.eigvalsh(gram).max()
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        w = np.maximum(w - step * (gram @ w - rhs), 0.0)
    return w


def _plot(out, sharpen, kernels, taps):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "\nmatplotlib is not installed, so no figure was written "
            "(pip install 'keras-kernel-constraints[plot]')."
        )
        return None
    os.makedirs(out, exist_ok=True)
    panels = {"target (sharpen)": sharpen, **kernels}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    for ax, (title, kernel) in zip(axes, panels.items(), strict=True):
        ax.imshow(np.clip(kernel, -5, 5), cmap="RdBu_r", vmin=-5, vmax=5)
        for (i, j), v in np.ndenumerate(kernel):
            shown = 0.0 if abs(v) < 5e-3 else v  # no "-0.00"
            ax.text(
                j,
                i,
                f"{shown:.2f}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if abs(v) > 2.5 else "black",
            )
        total = kernel.sum()
        note = " (training diverged)" if not np.isfinite(total) else ""
        ax.set_title(f"{title}\nsum = {total:.3f}{note}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = os.path.join(out, "learned_kernels.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nwrote {path}")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (name, values), style in zip(taps.items(), ("k--", "o-", "d-", "s-", "^-"), strict=False):
        ax.plot(np.arange(len(values)), values, style, label=name, markersize=4)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel("tap")
    ax.set_ylabel("weight")
    ax.set_title("Conv1D FIR kernel: positive and non-decreasing", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fir_path = os.path.join(out, "monotone_fir.png")
    fig.savefig(fir_path, dpi=100)
    plt.close(fig)
    print(f"wrote {fir_path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
