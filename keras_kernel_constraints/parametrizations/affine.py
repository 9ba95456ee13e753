"""Group maps onto a sum: the affine sum hyperplane and the simplex (softmax)."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.parametrizations._base import Parametrization, register
from keras_kernel_constraints.parametrizations.entries import start_distance
from keras_kernel_constraints.sets.affine import group_targets, shift_to_sum


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SumTo(Parametrization):
    r"""Every group sums to $s$, negatives included: the affine map onto the hyperplane.

    $$
    f(v)_g = v_g - \bar v_g + \frac{s}{n}, \qquad f^{-1}(w) = w
    $$

    $f$ is the projection ``sets.SumTo(s)``, linear up to a constant, so its
    gradient is the gradient with each group's mean removed: the component
    that would change the sum never reaches the weight. Every point of the
    set is reached, signs and entries above $s$ included (the sharpening
    kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``), and ``right_inverse`` is the
    identity (on any weight, ``forward`` of it is its projection).

    Args:
        value: Finite target sum $s$ of every group, or an array of one per
            group (as for ``sets.SumTo``).
        axis: Axes forming one group; ``None`` means every axis but the last
            (one group per output unit of Dense and ConvND kernels);
            ``"units"`` is resolved per layer by ``Parametrized``.

    Example:

        >>> import numpy as np
        >>> np.asarray(SumTo(1.0).forward(np.array([[0.0, -1.0], [4.0, 1.0]])))
        array([[-1.5, -0.5],
               [ 2.5,  1.5]])
    """

    value: float | tuple = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    @property
    def set(self) -> sets.Set:
        return sets.SumTo(self.value, axis=self.axis)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        target = group_targets(self.value, layout)
        return shift_to_sum(v, layout, target, single=layout.bound(self.value))

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        return w


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Simplex(Parametrization):
    r"""Every group positive and summing to $s$: softmax per group.

    $$
    f(v)_g = s\,\frac{e^{v_g}}{\sum_{i \in g} e^{v_i}}, \qquad
    f^{-1}(w)_g = \log w_g - \overline{\log w_g}
    $$

    The image is the relative interior of ``sets.Simplex(s)`` (every entry
    $> 0$). ``softmax`` subtracts the group maximum first, so no finite
    $v$ overflows. ``right_inverse`` centres the logarithms (softmax is
    unchanged by a shift of the group); it first projects a weight onto
    the simplex, and an entry at 0 becomes $10^{-3}\,s$ before
    the logarithm (see ``entries.start_distance``).

    Args:
        value: Finite sum $s > 0$ of every group.
        axis: Axes forming one group, as for ``SumTo``.

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(Simplex().forward(np.array([0.0, np.log(3.0)]))), 6)
        array([0.25, 0.75])
    """

    value: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    @property
    def set(self) -> sets.Set:
        return sets.Simplex(self.value, axis=self.axis)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(v)
        return restore(ops.softmax(rows, axis=-1) * layout.bound(self.value))

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        simplex = sets.Simplex(self.value, axis=self.axis)
        rows, restore = layout.to_rows(simplex._project(w, layout))
        # Logs of w / s, so the margin is relative to the sum.
        logs = ops.log(start_distance(rows / layout.bound(self.value), layout, layout.bound(1.0)))
        return restore(logs - ops.mean(logs, axis=-1, keepdims=True))
