"""Learn a Conv1D FIR kernel whose taps must be positive and non-decreasing.

Monotone(min_value=0.0) replaces the kernel, after every optimizer step, by
the nearest kernel with 0 <= w[0] <= w[1] <= ... (exact isotonic regression,
clipped). The taps keep training freely inside that set; the workaround of
building the kernel once as cumsum(exp(v)) in __init__ never trains at all.

    python examples/monotone_fir.py [--epochs 40] [--out examples-output/monotone_fir.png]
"""

import argparse

import keras
import numpy as np
from _plot import pyplot, save  # examples/_plot.py, beside this script

from keras_kernel_constraints.constraints import Monotone

TARGET = np.array([0.05, 0.1, 0.3, 0.3, 0.3, 0.3, 0.6, 0.8], "float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--out", default="examples-output/monotone_fir.png", help="PNG of the learned taps"
    )
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(64, 48, 1)).astype("float32")
    filtered = np.asarray(keras.ops.conv(signals, TARGET[:, None, None]))
    noisy = filtered + 0.3 * rng.normal(size=filtered.shape).astype("float32")

    # Start from a falling kernel with negative taps: far outside the set.
    start = np.linspace(0.5, -0.3, len(TARGET), dtype="float32").reshape(-1, 1, 1)
    conv = keras.layers.Conv1D(
        1,
        len(TARGET),
        use_bias=False,
        kernel_constraint=Monotone(min_value=0.0),
        kernel_initializer=keras.initializers.Constant(start),
    )
    model = keras.Sequential([keras.Input((48, 1)), conv])
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=True)
    feasible_epochs = []
    check = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: feasible_epochs.append(
            bool(
                np.all(np.diff(conv.kernel.numpy()[:, 0, 0]) >= 0)
                and conv.kernel.numpy().min() >= 0
            )
        )
    )
    model.fit(signals, noisy, batch_size=16, epochs=args.epochs, verbose=0, callbacks=[check])

    taps = conv.kernel.numpy()[:, 0, 0]
    print("learned taps:", np.round(taps, 3))
    print(f"positive and non-decreasing after {sum(feasible_epochs)}/{len(feasible_epochs)} epochs")
    print(f"taps moved from the start by: {np.abs(taps - start[:, 0, 0]).max():.3f}")
    print(f"max abs error vs the target taps: {np.abs(taps - TARGET).max():.4f}")

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(TARGET, "k--", label="target")
    ax.plot(start[:, 0, 0], ":", color="grey", label="start")
    ax.plot(taps, "o-", label="learned with Monotone(min_value=0.0)")
    ax.set_xlabel("tap")
    ax.legend(fontsize=8)
    save(fig, args.out)


if __name__ == "__main__":
    main()
