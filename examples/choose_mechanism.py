"""Projection, penalty or parametrization? The three on the two seed problems, measured.

1. sharpening: a 3x3 Conv2D kernel whose entries sum to 1, learned from
   images and their sharpened versions (the target has negative taps and a
   tap of 5);
2. FIR: a positive, non-decreasing Conv1D kernel learned from 2 noisy
   sequences of 20 samples (the demo's scenario 3).

For each mechanism: the epoch at which the training loss first reaches a
target, the final kernel error, the largest constraint violation seen at
the end of any epoch, and the time of one training step (jit-compiled).
The loss target is 1e-4 for sharpening (noise-free data: the exact kernel
has loss 0) and, for the noisy FIR, 1.01 times the loss of the best
feasible fit (which the projection reaches); a penalty can go below it
only by leaving the set.

    python examples/choose_mechanism.py [--epochs 40]
"""

import argparse
import time

import keras
import numpy as np
from keras import ops

from keras_kernel_constraints import parametrizations
from keras_kernel_constraints.constraints import Monotone, SumTo

SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32")
FIR = np.array([0.05, 0.1, 0.3, 0.3, 0.3, 0.3, 0.6, 0.8], "float32")


def sharpening_data():
    images = np.random.default_rng(0).uniform(size=(256, 16, 16, 1)).astype("float32")
    return images, ops.convert_to_numpy(ops.conv(images, SHARPEN[:, :, None, None]))


def fir_data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 20, 1)).astype("float32")
    clean = ops.convert_to_numpy(ops.conv(x, FIR[:, None, None]))
    y = clean + rng.normal(size=clean.shape).astype("float32")
    # Full-batch steps, 10 per epoch, as in the demo.
    return np.tile(x, (10, 1, 1)), np.tile(y, (10, 1, 1))


def sum_violation(kernel):
    return float(abs(kernel.sum() - 1.0))


def monotone_violation(kernel):
    taps = kernel.reshape(-1)
    return float(max(0.0, -taps.min(), -np.diff(taps).min()))


def mechanisms(problem):
    """(name, layer, kernel_of(layer), optimizer) for each mechanism on ``problem``."""
    if problem == "sharpening":
        conv = lambda **kw: keras.layers.Conv2D(1, 3, use_bias=False, **kw)  # noqa: E731
        constraint, adam = SumTo(1.0), lambda: keras.optimizers.Adam(0.05)
        mapping = parametrizations.SumTo(1.0)
        optimizers = (adam, adam, adam)
    else:
        start = keras.initializers.Constant(np.linspace(0.5, -0.3, len(FIR)).reshape(-1, 1, 1))
        conv = lambda **kw: keras.layers.Conv1D(  # noqa: E731
            1, len(FIR), use_bias=False, kernel_initializer=start, **kw
        )
        constraint = Monotone(min_value=0.0)
        mapping = parametrizations.Monotone(min_value=0.0)
        # Plain steps for the projection (Adam then the projection can stop
        # short: docs/pitfalls.md); Adam's scale-free steps for the map.
        optimizers = (
            lambda: keras.optimizers.SGD(0.1),
            lambda: keras.optimizers.SGD(0.1),
            lambda: keras.optimizers.Adam(0.05),
        )
    plain = lambda layer: layer.kernel  # noqa: E731
    return [
        ("projection (constraint)", conv(kernel_constraint=constraint), plain, optimizers[0]),
        (
            "penalty, strength 1",
            conv(kernel_regularizer=constraint.penalty(strength=1.0)),
            plain,
            optimizers[1],
        ),
        (
            "parametrization",
            parametrizations.Parametrized(conv(), {"kernel": mapping}),
            lambda layer: layer.effective_weight("kernel"),
            optimizers[2],
        ),
    ]


def measure(problem, epochs):
    x, y = sharpening_data() if problem == "sharpening" else fir_data()
    truth, violation = (
        (SHARPEN, sum_violation) if problem == "sharpening" else (FIR, monotone_violation)
    )
    batch = 32 if problem == "sharpening" else 2
    rows = []
    for name, layer, kernel_of, optimizer in mechanisms(problem):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(x.shape[1:]), layer])
        model.compile(optimizer(), "mse", jit_compile=keras.backend.backend() != "torch")
        worst, losses = [0.0], []

        def record(epoch, logs, layer=layer, kernel_of=kernel_of):
            kernel = ops.convert_to_numpy(kernel_of(layer))
            worst[0] = max(worst[0], violation(kernel))
            losses.append(logs["loss"])

        callback = keras.callbacks.LambdaCallback(on_epoch_end=record)
        model.fit(
            x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback]
        )
        kernel = ops.convert_to_numpy(kernel_of(layer)).reshape(truth.shape)
        error = float(np.sqrt(np.mean((kernel - truth) ** 2)))
        steps = len(x) // batch
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=3, shuffle=False, verbose=0)
        step_ms = (time.perf_counter() - start) / (3 * steps) * 1e3
        rows.append((name, losses, error, worst[0], step_ms))
    if problem == "sharpening":  # noise-free: the exact kernel has loss 0
        target, what = 1e-4, "1e-4"
    else:  # noisy: the best feasible fit, which the projection reaches (docs/pitfalls.md)
        target = 1.01 * rows[0][1][-1]
        what = f"1.01 x the projection's final loss, {target:.4f}"
    print(f"\n{problem}: epochs (of {epochs}) until the loss is at most {what}")
    print(f"{'mechanism':<26}{'epochs':>8}{'rms error':>11}{'violation':>11}{'step ms':>9}")
    for name, losses, error, worst, step_ms in rows:
        reached = next((i + 1 for i, loss in enumerate(losses) if loss <= target), None)
        shown = "never" if reached is None else str(reached)
        print(f"{name:<26}{shown:>8}{error:>11.3g}{worst:>11.2g}{step_ms:>9.2f}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}")
    for problem in ("sharpening", "FIR"):
        measure(problem, args.epochs)


if __name__ == "__main__":
    main()
