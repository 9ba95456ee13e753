"""A custom add_weight variable that must stay non-negative: hard constraint vs soft penalty.

A layer mixes 4 features with a weight vector made by ``add_weight``. The
data come from the mix [1.0, -0.5, 0.3, 0.8]: the best fit wants the second
weight negative, which the model forbids. Three versions train side by side:

* ``constraint=NonNeg()``: the exact projection after every step; the weight
  is >= 0 at every epoch and the second one sits exactly at 0, the
  constrained optimum;
* ``regularizer=NonNegPenalty(0.1)``: a soft l1 penalty smaller than the
  force pulling the weight down (the constraint's Lagrange multiplier, 1.0
  here): the gradient sees it, but the weight ends clearly negative;
* ``regularizer=NonNegPenalty(2.0)``: above the multiplier, the exact-penalty
  regime: the weight is driven to 0 but hovers around it.

    python examples/nonneg_add_weight.py [--epochs 40] [--out examples-output/nonneg_add_weight.png]
"""

import argparse

import keras
import numpy as np
from _plot import pyplot, save  # examples/_plot.py, beside this script

from keras_kernel_constraints.constraints import NonNeg
from keras_kernel_constraints.regularizers import NonNegPenalty

TRUE_MIX = np.array([1.0, -0.5, 0.3, 0.8], "float32")


class Mixing(keras.layers.Layer):
    """``y = x @ w`` with one weight vector ``w`` made by ``add_weight``."""

    def __init__(self, constraint=None, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.constraint, self.regularizer = constraint, regularizer

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],),
            initializer="ones",
            constraint=self.constraint,
            regularizer=self.regularizer,
        )

    def call(self, x):
        return keras.ops.sum(x * self.w, axis=-1, keepdims=True)


class Track(keras.callbacks.Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer, self.history = layer, []

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(keras.ops.convert_to_numpy(self.layer.w).copy())


def train(x, y, epochs, **weight_options):
    keras.utils.set_random_seed(0)
    layer = Mixing(**weight_options)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    track = Track(layer)
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[track])
    return np.array(track.history)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="examples-output/nonneg_add_weight.png")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32")
    y = (x @ TRUE_MIX + 0.05 * rng.normal(size=1024)).astype("float32")[:, None]

    runs = {
        "hard NonNeg()": train(x, y, args.epochs, constraint=NonNeg()),
        "soft NonNegPenalty(0.1)": train(
            x, y, args.epochs, regularizer=NonNegPenalty(strength=0.1)
        ),
        "soft NonNegPenalty(2.0)": train(
            x, y, args.epochs, regularizer=NonNegPenalty(strength=2.0)
        ),
    }
    print("true mix [1.0, -0.5, 0.3, 0.8]; the constrained optimum is about [1.0, 0.0, 0.3, 0.8]")
    for name, history in runs.items():
        final = history[-1]
        negative = int((history.min(axis=1) < 0).sum())
        print(
            f"{name:<26} final w = {np.round(final.astype(float), 3).tolist()}  "
            f"min over all epochs: {history.min():.6f}  "
            f"negative after {negative}/{len(history)} epochs"
        )
    others = np.abs(runs["hard NonNeg()"][-1][[0, 2, 3]] - TRUE_MIX[[0, 2, 3]]).max()
    print(f"hard: max error of the free weights: {others:.4f}")

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, history in runs.items():
        ax.plot(np.arange(1, len(history) + 1), history[:, 1], label=name)
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.axhline(
        TRUE_MIX[1], color="0.6", linestyle="--", linewidth=0.8, label="unconstrained optimum"
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("second weight w[1]")
    ax.set_title("A weight that must stay >= 0 while the data pull it to -0.5", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, args.out)


if __name__ == "__main__":
    main()
