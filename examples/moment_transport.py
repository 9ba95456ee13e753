"""What stepping along the set changes: Adam with a constraint, against ``Projected(Adam)``.

Four problems whose constrained optimum is known exactly, each trained from
the same start by three optimizers:

* ``Adam``: the constraint projects after every step (the optimizer never
  sees it);
* ``Projected(Adam, transport=False)``: tangent gradients, no moment transport;
* ``Projected(Adam)``: tangent gradients and the first moment moved to the
  tangent cone at the new weight after every step.

The problems: the sharpening kernel under ``SumTo(1.0)``; a monotone FIR
filter with zero and tied taps under ``Monotone(min_value=0.0)``; a
non-negative ``add_weight`` mix whose least-squares fit wants negative
entries (the reference is ``scipy.optimize.nnls``), then the same mix
trained for half the steps before its data switch to a positive mix (the
pinned entries must leave 0; steps counted from the switch); and the leading three
eigenvectors of a symmetric matrix as an ``Orthogonal`` (20, 3) weight (the
error is the largest principal angle to ``numpy.linalg.eigh``'s subspace).
Every model trains full batch, one step per epoch, and the script prints,
for each problem and optimizer, the error after the last step and the first
step after which it stays below the tolerance.

    python examples/moment_transport.py [--steps 300]
"""

import argparse

import keras
import numpy as np
import scipy.optimize
from keras import ops

from keras_kernel_constraints.constraints import Monotone, NonNeg, Orthogonal, SumTo
from keras_kernel_constraints.optimizers import Projected

SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32")
FIR = np.array([0.0, 0.0, 0.0, 0.1, 0.3, 0.3, 0.6, 1.0], "float32")
TOLERANCE = 1e-3


class Weight(keras.layers.Layer):
    """One ``add_weight`` variable, used by ``apply(weight, x)``."""

    def __init__(self, shape, constraint, apply, **kwargs):
        super().__init__(**kwargs)
        self.weight_shape, self.constraint, self.apply = shape, constraint, apply

    def build(self, input_shape):
        start = keras.initializers.RandomNormal(stddev=0.3, seed=1)
        self.w = self.add_weight(
            shape=self.weight_shape, initializer=start, constraint=self.constraint
        )

    def call(self, x):
        return self.apply(self.w, x)


def sharpening(rng):
    images = rng.normal(size=(128, 16, 16, 1)).astype("float32")
    kernel = SHARPEN[:, :, None, None]
    targets = ops.convert_to_numpy(ops.conv(images, kernel, padding="same"))
    return dict(
        shape=(3, 3, 1, 1),
        constraint=SumTo(1.0),
        apply=lambda w, x: ops.conv(x, w, padding="same"),
        data=(images, targets),
        loss="mse",
        error=lambda w: np.abs(w[:, :, 0, 0] - SHARPEN).max(),
        learning_rate=0.05,
    )


def monotone_fir(rng):
    signals = rng.normal(size=(128, 64, 1)).astype("float32")
    targets = ops.convert_to_numpy(ops.conv(signals, FIR[:, None, None], padding="valid"))
    return dict(
        shape=(FIR.size, 1, 1),
        constraint=Monotone(min_value=0.0),
        apply=lambda w, x: ops.conv(x, w, padding="valid"),
        data=(signals, targets),
        loss="mse",
        error=lambda w: np.abs(w[:, 0, 0] - FIR).max(),
        learning_rate=0.02,
    )


def nonneg_mix(rng):
    features = rng.normal(size=(512, 8)).astype("float32")
    mix = np.array([1.0, -0.5, 0.3, 0.8, -0.2, 0.0, 0.6, -1.0], "float32")
    targets = features @ mix
    best, _ = scipy.optimize.nnls(features.astype("float64"), targets.astype("float64"))
    return dict(
        shape=(8,),
        constraint=NonNeg(),
        apply=lambda w, x: ops.sum(x * w, axis=-1),
        data=(features, targets),
        loss="mse",
        error=lambda w: np.abs(w - best).max(),
        learning_rate=0.05,
    )


def nonneg_mix_released(rng):
    """``nonneg_mix`` for the first half of the steps, then a mix whose entries
    are all positive: the entries pinned at 0 must leave it."""
    problem = nonneg_mix(rng)
    features = problem["data"][0]
    mix = np.abs(np.array([1.0, -0.5, 0.3, 0.8, -0.2, 0.0, 0.6, -1.0], "float32"))
    problem["switch"] = (features, features @ mix)
    problem["error"] = lambda w: np.abs(w - mix).max()
    return problem


def leading_eigenvectors(rng):
    a = rng.normal(size=(20, 20))
    matrix = ((a + a.T) / 2).astype("float32")
    leading = np.linalg.eigh(matrix.astype("float64"))[1][:, -3:]

    def largest_angle(w):
        cosines = np.linalg.svd(leading.T @ np.linalg.qr(w.astype("float64"))[0])[1]
        return float(np.arccos(np.clip(cosines.min(), -1.0, 1.0)))

    return dict(
        shape=(20, 3),
        constraint=Orthogonal(),
        # The Rayleigh quotient trace(W^T A W), to be maximized.
        apply=lambda w, x: ops.sum(w * ops.matmul(matrix, w)) + 0.0 * ops.sum(x),
        data=(np.zeros((1, 1), "float32"), np.zeros((1,), "float32")),
        loss=lambda _, quotient: -ops.mean(quotient),
        error=largest_angle,
        learning_rate=0.03,
    )


PROBLEMS = {
    "sharpening kernel, SumTo(1.0): max |k - k*|": sharpening,
    "monotone FIR, Monotone(min_value=0.0): max |k - k*|": monotone_fir,
    "non-negative add_weight, NonNeg(): max |w - nnls|": nonneg_mix,
    "the same, then a positive mix (after the switch): max |w - w*|": nonneg_mix_released,
    "Stiefel (20, 3), Orthogonal(): largest principal angle": leading_eigenvectors,
}
OPTIMIZERS = {
    "Adam": lambda rate: keras.optimizers.Adam(rate),
    "Projected(Adam, transport=False)": lambda rate: Projected(
        keras.optimizers.Adam(rate), transport=False
    ),
    "Projected(Adam)": lambda rate: Projected(keras.optimizers.Adam(rate)),
}


class Errors(keras.callbacks.Callback):
    def __init__(self, layer, error):
        super().__init__()
        self.layer, self.error, self.history = layer, error, []

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(self.error(ops.convert_to_numpy(self.layer.w)))


def train(problem, optimizer, steps):
    keras.utils.set_random_seed(0)
    x, y = problem["data"]
    layer = Weight(problem["shape"], problem["constraint"], problem["apply"])
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile(optimizer(problem["learning_rate"]), problem["loss"], jit_compile=True)
    errors = Errors(layer, problem["error"])
    if "switch" in problem:  # half the steps on the first data, counted from the switch
        model.fit(x, y, batch_size=len(x), epochs=steps // 2, verbose=0)
        x, y = problem["switch"]
        steps -= steps // 2
    model.fit(x, y, batch_size=len(x), epochs=steps, verbose=0, callbacks=[errors])
    return np.array(errors.history)


def settled(history):
    """The first step after which the error stays within TOLERANCE (None: never)."""
    above = np.nonzero(history > TOLERANCE)[0]
    if above.size == 0:
        return 1
    return None if above[-1] + 1 >= history.size else int(above[-1] + 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    print(f"{keras.backend.backend()}, {args.steps} full-batch steps, tolerance {TOLERANCE:g}")
    print("| problem | optimizer | error after the last step | within tolerance from step |")
    print("|---|---|---:|---:|")
    for name, make in PROBLEMS.items():
        problem = make(np.random.default_rng(0))
        for label, optimizer in OPTIMIZERS.items():
            history = train(problem, optimizer, args.steps)
            step = settled(history)
            print(f"| {name} | {label} | {history[-1]:.2e} | {step or 'not reached'} |")


if __name__ == "__main__":
    main()
