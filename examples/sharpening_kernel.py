"""Learn a 3x3 sharpening kernel whose entries must sum to 1.

The target kernel [[0,-1,0],[-1,5,-1],[0,-1,0]] has negative taps and a tap
above 1, so neither softmax nor divide-by-sum can represent it safely. The
exact projection SumTo(1.0) can: after every optimizer step the kernel is the
nearest point whose entries sum to 1. A second model also keeps every tap in
[-1, 5] with Intersect(SumTo(1.0), Box(-1.0, 5.0)): the nearest point of both
sets at once (a capped simplex, exact), with the target's centre tap on the
box's upper bound.

    python examples/sharpening_kernel.py [--epochs 30] [--out examples-output/sharpening.png]
"""

import argparse

import keras
import numpy as np
from _plot import pyplot, save  # examples/_plot.py, beside this script

from keras_kernel_constraints.constraints import Box, Intersect, SumTo

SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--out", default="examples-output/sharpening.png", help="PNG of the learned kernel"
    )
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(size=(256, 16, 16, 1)).astype("float32")
    sharpened = keras.ops.conv(images, SHARPEN[:, :, None, None], padding="valid")

    def learn(constraint):
        keras.utils.set_random_seed(0)
        conv = keras.layers.Conv2D(1, 3, use_bias=False, kernel_constraint=constraint)
        model = keras.Sequential([keras.Input((16, 16, 1)), conv])
        model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
        model.fit(images, sharpened, batch_size=32, epochs=args.epochs, verbose=0)
        return keras.ops.convert_to_numpy(conv.kernel)[:, :, 0, 0]

    kernel = learn(SumTo(1.0))
    print("learned kernel:\n", np.round(kernel, 3))
    print(f"sum of entries: {kernel.sum():.6f}")
    print(f"max abs error vs the sharpening kernel: {np.abs(kernel - SHARPEN).max():.4f}")

    boxed = learn(Intersect(SumTo(1.0), Box(-1.0, 5.0)))
    print("with Intersect(SumTo(1.0), Box(-1.0, 5.0)):")
    print(f"  sum of entries: {boxed.sum():.6f}")
    print(f"  taps within: [{boxed.min():.6f}, {boxed.max():.6f}]")
    print(f"  max abs error vs the sharpening kernel: {np.abs(boxed - SHARPEN).max():.4f}")

    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    panels = (("target", SHARPEN), ("learned with SumTo(1.0)", kernel))
    for ax, (title, k) in zip(axes, panels, strict=True):
        ax.imshow(k, cmap="RdBu_r", vmin=-5, vmax=5)
        ax.set_title(f"{title}\nsum = {k.sum():.3f}", fontsize=9)
        ax.axis("off")
    save(fig, args.out)


if __name__ == "__main__":
    main()
