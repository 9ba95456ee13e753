"""Unimodal sequences: rising to one peak, then falling.

Every 1-D slice along ``axis`` is one sequence, solved in a batch of rows
by the exact isotonic regression of ``._isotonic``. With the peak left free
the set is a union of convex sets (one per split of the slice) and the
projection is the best of the per-split projections (Stout, 2008); with the
peak fixed the set is convex and the projection is two isotonic fits joined
by one threshold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.layout import Layout, Slices
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set
from keras_kernel_constraints.sets._isotonic import isotonic_rows


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Unimodal(Set):
    r"""Every slice along ``axis`` non-decreasing up to a peak, non-increasing after it.

    For a slice $w \in \mathbb{R}^n$ and a peak index $k$:

    $$
    C_k = \{x : x_0 \le \dots \le x_k \ge x_{k+1} \ge \dots \ge x_{n-1}\},
    \qquad C = \bigcup_{k} C_k .
    $$

    ``mode=None`` projects onto $C$ (the peak goes where it fits best);
    ``mode=k`` onto $C_k$.

    **Free peak.** $C$ is also the union over splits $j = 0, \dots, n$ of
    $S_j$ = {the first $j$ entries non-decreasing, the rest non-increasing}
    (no order across the split). $S_j$ is a product of two monotone cones,
    so its projection is the isotonic fit of the prefix beside the
    antitonic fit of the suffix; the projection onto $C$ is the one of the
    $n + 1$ candidates nearest to $w$ (Stout, 2008, "Unimodal regression
    via prefix isotonic regression"). Ties go to the shortest prefix. $C$
    is not convex: where two candidates are equally near, a tiny change of
    $w$ can move the result far.

    **Fixed peak.** Given the peak value $t$, the projection onto $C_k$ is
    $\min(f, t)$ on the prefix and $\min(g, t)$ on the suffix, with $f$
    the isotonic fit of $w_0, \dots, w_{k-1}$ and $g$ the antitonic fit of
    $w_{k+1}, \dots, w_{n-1}$ (clipping an isotonic fit from above is its
    projection onto the capped cone). The best $t$ solves
    $t - w_k = \sum_i \max(h_i - t, 0)$ over the entries $h$ of $f$ and
    $g$, and is $t = \max_m (w_k + s_m) / (m + 1)$ with $s_m$ the sum of
    the $m$ largest (the same threshold formula as the simplex's).

    Cost per slice: the free peak solves $2(n + 1)$ isotonic regressions
    of $n$ entries (``O(n^2 log n)`` work, ``O(n^2)`` memory); the fixed
    peak two, plus one sort.

    Args:
        mode: ``None`` for a free peak, or the peak's index along ``axis``
            (negative counts from the end, as in Python).
        axis: The one axis of the sequence (an int); every other axis
            indexes independent slices. 0 is the tap axis of a Conv1D
            kernel ``(taps, in, out)``.

    Example:

        >>> import numpy as np
        >>> np.asarray(Unimodal().project(np.array([1.0, 3.0, 2.0, 4.0, 0.0])))
        array([1. , 2.5, 2.5, 4. , 0. ])
        >>> np.asarray(Unimodal(mode=0).project(np.array([1.0, 3.0, 2.0])))
        array([2., 2., 2.])
    """

    mode: int | None = None
    _: KW_ONLY
    axis: int = 0

    def __post_init__(self) -> None:
        self._normalize(
            mode=validation.optional_index(self.mode, "mode", "the peak's index (None: free)"),
            axis=validation.ordered_axis(self.axis),
        )

    @property
    def layout(self) -> Layout:
        return Slices(self.axis)

    @property
    def convex(self) -> bool:
        return self.mode is not None

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        n = layout.size
        if self.mode is not None and not -n <= self.mode < n:
            raise ValueError(
                f"{owner}: `mode`={self.mode} is out of range for slices of length {n} "
                f"(weight of shape {layout.shape}, axis={self.axis}); "
                f"need {-n} <= mode < {n}."
            )

    def _project(self, x: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(x)
        n = layout.size
        if n <= 1:
            return x
        fitted = _best_split(rows) if self.mode is None else _peak_at(rows, self.mode % n)
        # A NaN poisons its slice on every backend (the comparisons of the
        # splits and the sort may otherwise pass it by).
        poisoned = ops.any(ops.isnan(rows), axis=-1, keepdims=True)
        return restore(ops.where(poisoned, ops.full_like(fitted, float("nan")), fitted))


def _best_split(rows: Any) -> Any:
    """Unimodal regression of every row: the nearest of the ``n + 1`` split fits."""
    n = rows.shape[-1]
    rising, rising_cost = _prefix_fits(rows)
    falling, falling_cost = _prefix_fits(ops.flip(rows, axis=-1))
    # Split j: the first j entries rise (prefix fit of length j), the other
    # n - j fall (the reversed row's prefix fit of length n - j).
    cost = rising_cost + ops.flip(falling_cost, axis=-1)
    best = ops.argmin(cost, axis=-1)
    index = ops.arange(n + 1)
    split = ops.expand_dims(ops.cast(best, index.dtype), -1)
    chosen = ops.expand_dims(index == split, -1)
    zeros = ops.zeros_like(rising)
    prefix = ops.sum(ops.where(chosen, rising, zeros), axis=1)
    # Two flips: Keras 3.0's TensorFlow flip takes one axis only.
    reversed_fits = ops.flip(ops.flip(falling, axis=1), axis=2)
    suffix = ops.sum(ops.where(chosen, reversed_fits, zeros), axis=1)
    return ops.where(index[:n] < split, prefix, suffix)


def _prefix_fits(rows: Any) -> tuple[Any, Any]:
    """Isotonic fits of every prefix of every row, and their squared errors.

    Returns fits of shape ``(rows, n + 1, n)`` (prefix length ``j`` in
    position ``j``: its first ``j`` entries) and costs ``(rows, n + 1)``.
    The entries past the prefix are set to the row's maximum, which never
    violates the order, so the fit of the prefix is unchanged.
    """
    count, n = rows.shape
    index = ops.arange(n)
    length = ops.expand_dims(ops.arange(n + 1), -1)
    inside = index < length  # (n + 1, n)
    top = ops.max(rows, axis=-1, keepdims=True)
    padded = ops.where(inside, ops.expand_dims(rows, 1), ops.expand_dims(top, 1))
    fits = ops.reshape(isotonic_rows(ops.reshape(padded, (count * (n + 1), n))), padded.shape)
    # Compare errors relative to the row's size, so squares cannot overflow.
    scale = ops.max(ops.abs(rows), axis=-1, keepdims=True)
    scale = ops.where(scale > 0, scale, ops.ones_like(scale))
    scale = ops.expand_dims(scale, 1)
    error = fits / scale - ops.expand_dims(rows, 1) / scale
    cost = ops.sum(ops.where(inside, ops.square(error), ops.zeros_like(error)), axis=-1)
    return fits, cost


def _peak_at(rows: Any, k: int) -> Any:
    """Projection of every row onto the sequences rising to index ``k``, then falling."""
    n = rows.shape[-1]
    rising = isotonic_rows(rows[:, :k]) if k > 0 else rows[:, :0]
    falling = (
        ops.flip(isotonic_rows(ops.flip(rows[:, k + 1 :], axis=-1)), axis=-1)
        if k < n - 1
        else rows[:, :0]
    )
    peak = rows[:, k : k + 1]
    others = ops.concatenate([rising, falling], axis=-1)
    # t = max_m (w_k + s_m) / (m + 1), s_m the sum of the m largest others.
    largest = ops.flip(ops.sort(others, axis=-1), axis=-1)
    sums = ops.concatenate([ops.zeros_like(peak), reductions.cumsum(largest, axis=-1)], axis=-1)
    counts = ops.cast(ops.arange(1, n + 1), rows.dtype)
    level = ops.max((peak + sums) / counts, axis=-1, keepdims=True)
    return ops.concatenate(
        [reductions.minimum(rising, level), level, reductions.minimum(falling, level)], axis=-1
    )
