"""Draw the documentation's figures into docs/img/ (needs matplotlib).

    python docs/figures.py [OUT_DIR]     # default: docs/img

The group pictures show which kernel entries one constraint group holds;
the family figures apply the real projections to small examples.
"""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from keras_kernel_constraints import projections

IMG = pathlib.Path(__file__).resolve().parent / "img"


def kernel_groups(ax, title, channel_names, group_of):
    """A (kh=3, kw=3, c2, c3) kernel drawn as c2 x c3 little 3x3 squares.

    ``group_of(i, j)`` says which group the spatial kernel at channel pair
    ``(i, j)`` belongs to; each group gets one colour.
    """
    c2, c3 = 3, 4
    colours = plt.get_cmap("tab20")
    for i in range(c2):
        for j in range(c3):
            colour = colours(group_of(i, j) % 20)
            for u in range(3):
                for v in range(3):
                    ax.add_patch(
                        plt.Rectangle((j * 4 + v, -(i * 4 + u)), 0.9, 0.9, color=colour, alpha=0.85)
                    )
    for j in range(c3):
        ax.text(j * 4 + 1.45, 1.3, f"{channel_names[1]}={j}", ha="center", fontsize=8)
    for i in range(c2):
        ax.text(
            -0.6, -(i * 4) - 0.5, f"{channel_names[0]}={i}", ha="right", va="center", fontsize=8
        )
    ax.set_xlim(-4, c3 * 4)
    ax.set_ylim(-c2 * 4, 2.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def groups_pictures():
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    conv = ("in", "out")
    transpose = ("out", "in")
    kernel_groups(
        axes[0, 0],
        "Conv2D (kh, kw, in, out), axis=None:\none group per filter (column)",
        conv,
        lambda i, j: j,
    )
    kernel_groups(
        axes[0, 1],
        "Conv2D, axis=(0, 1):\none group per 3x3 spatial kernel",
        conv,
        lambda i, j: i * 4 + j,
    )
    kernel_groups(
        axes[1, 0],
        "Conv2DTranspose (kh, kw, out, in), axis=None:\none group per INPUT channel (column)",
        transpose,
        lambda i, j: j,
    )
    kernel_groups(
        axes[1, 1],
        "Conv2DTranspose, axis=(0, 1, 3):\none group per OUTPUT filter (row)",
        transpose,
        lambda i, j: i,
    )
    fig.suptitle("Groups of a 3x3 kernel: same colour = constrained together", fontsize=10)
    fig.tight_layout()
    fig.savefig(IMG / "groups_conv_kernels.png", dpi=110)
    plt.close(fig)


def affine_figure():
    w = np.array([[0.5, -1.2, 0.3], [-0.8, 2.2, -1.1], [0.2, -0.9, 0.4]])  # sum -0.4
    projected = np.asarray(projections.project_sum_to(w, 1.0, axis=(0, 1)))
    divided = w / w.sum()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, (title, k) in zip(
        axes,
        [
            (f"trained kernel, sum {w.sum():.2f}", w),
            ("divide by the sum: every sign flips", divided),
            ("SumTo(1.0): nearest point", projected),
        ],
        strict=True,
    ):
        ax.imshow(k, cmap="RdBu_r", vmin=-4, vmax=4)
        for (u, v), value in np.ndenumerate(k):
            ax.text(v, u, f"{value:.2f}", ha="center", va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(IMG / "sum_to_vs_divide.png", dpi=110)
    plt.close(fig)


def simplex_figure():
    rng = np.random.default_rng(3)
    points = rng.normal(0.5, 0.8, size=(12, 2))
    projected = np.asarray(projections.project_simplex(points, 1.0, axis=-1))
    balls = np.asarray(projections.project_l2_ball(points, 1.0, axis=-1))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, target, title in (
        (axes[0], projected, "Simplex(1.0): p >= 0, p1 + p2 = 1"),
        (axes[1], balls, "L2Ball(1.0): ||p|| <= 1"),
    ):
        if target is projected:
            ax.plot([0, 1], [1, 0], "k-", linewidth=2)
        else:
            t = np.linspace(0, 2 * np.pi, 200)
            ax.fill(np.cos(t), np.sin(t), color="0.9")
        for p, q in zip(points, target, strict=True):
            ax.annotate("", q, p, arrowprops={"arrowstyle": "->", "color": "tab:blue"})
        ax.plot(*points.T, "o", color="tab:blue", markersize=4, label="w")
        ax.plot(*target.T, "o", color="tab:red", markersize=4, label="P(w)")
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(IMG / "simplex_and_ball.png", dpi=110)
    plt.close(fig)


def monotone_figure():
    rng = np.random.default_rng(0)
    taps = np.arange(24)
    w = np.linspace(0.0, 1.0, 24) ** 2 + rng.normal(0, 0.12, 24) - 0.1
    fitted = np.asarray(projections.project_monotone(w))
    bounded = np.asarray(projections.project_monotone(w, min_value=0.0, min_step=0.02))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(taps, w, "o", color="0.5", label="w (after an optimizer step)")
    ax.step(taps, fitted, where="mid", color="tab:blue", label="Monotone(): isotonic regression")
    ax.plot(taps, bounded, "-", color="tab:red", label="Monotone(min_value=0.0, min_step=0.02)")
    ax.axhline(0.0, color="k", linewidth=0.6)
    ax.set_xlabel("tap")
    ax.legend(fontsize=8)
    ax.set_title("Nearest non-decreasing kernel: pooled blocks take their mean", fontsize=9)
    fig.tight_layout()
    fig.savefig(IMG / "monotone_projection.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    import sys

    global IMG
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        IMG = pathlib.Path(argv[0])
    IMG.mkdir(parents=True, exist_ok=True)
    groups_pictures()
    affine_figure()
    simplex_figure()
    monotone_figure()
    print(f"wrote figures to {IMG}")


if __name__ == "__main__":
    main()
