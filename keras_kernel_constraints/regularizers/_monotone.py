"""Penalties on the order and the smoothness of a weight along one axis."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any, ClassVar

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import validation
from keras_kernel_constraints._core.params import legacy_init
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._base import (
    CheckedRegularizer,
    SetPenalty,
    resolve_layout,
)


def differences(x: Any, axis: int, order: int = 1) -> Any:
    """Finite differences of ``order`` along ``axis``, or ``None`` when the axis is
    too short to have any."""
    if x.shape[axis] <= order:
        return None
    lead = (slice(None),) * axis
    for _ in range(order):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


@register
@legacy_init(("increasing", "axis", "strength", "power", "min_step"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class MonotonePenalty(SetPenalty):
    r"""``strength * sum(relu(min_step - dw) ** power)``: the soft ``Monotone``.

    $$
    R(w) = \lambda \sum_i \max\bigl(\delta - (w_{i+1} - w_i), 0\bigr)^p \ \text{along axis}
    $$

    ``dw`` are the differences of neighbours along ``axis``
    (``w[i + 1] - w[i]``; negated for ``increasing=False``), so the penalty
    is zero exactly when every step is at least ``min_step``.

    Args:
        increasing: ``True`` (default) or ``False``.
        min_step: Smallest step that costs nothing, ``>= 0``.
        axis: The ordered axis, one int (default 0).
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> import numpy as np
        >>> float(MonotonePenalty(strength=1.0)(np.array([0.0, 2.0, 1.0, 3.0])))
        1.0
    """

    increasing: bool = True
    _: KW_ONLY
    min_step: float = 0.0
    axis: int = 0
    strength: float = 0.01
    power: int = 2

    set_type = sets.Monotone

    def violation(self, x: Any) -> Any:
        steps = differences(x, self._layout(x).axes[0])
        if steps is None:
            return ops.zeros((), dtype=x.dtype)
        if not self.increasing:
            steps = -steps
        return ops.sum(self._to_power(ops.relu(self.min_step - steps)))


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class ConvexityPenalty(SetPenalty):
    r"""``strength * sum(relu(-d2w) ** power)``: the soft ``Convex`` (or ``Concave``).

    $$
    R(w) = \lambda \sum_i \max\bigl(-(w_{i+1} - 2 w_i + w_{i-1}), 0\bigr)^p
    \ \text{along axis}
    $$

    Zero exactly on the convex slices (``concave=True``: the second
    differences are negated, zero on the concave ones); its gradient pulls
    only where the curvature has the wrong sign.

    Args:
        concave: ``False`` (default) for convex, ``True`` for concave.
        axis: The axis of the sequence, one int (default 0).
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> import numpy as np
        >>> float(ConvexityPenalty(strength=1.0, power=1)(np.array([0.0, 2.0, 1.0, 3.0])))
        3.0
    """

    concave: bool = False
    _: KW_ONLY
    axis: int = 0
    strength: float = 0.01
    power: int = 2

    set_type = sets.Convex

    def __post_init__(self) -> None:
        validation.boolean(self.concave, "concave")
        super().__post_init__()

    def violation(self, x: Any) -> Any:
        curvature = differences(x, self._layout(x).axes[0], 2)
        if curvature is None:
            return ops.zeros((), dtype=x.dtype)
        if self.concave:
            curvature = -curvature
        return ops.sum(self._to_power(ops.relu(-curvature)))


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class _DifferencePenalty(CheckedRegularizer):
    r"""``l1 * sum|D w| + l2 * sum (D w)**2`` for a finite-difference operator ``D``.

    Smoothness penalties are zero on no set, so they take Keras's ``L1L2``
    vocabulary (``l1``, ``l2``) rather than ``strength`` and ``power``.
    """

    order: ClassVar[int]  # of the differences: set by each subclass
    _: KW_ONLY
    axis: int = 0
    l1: float = 0.0
    l2: float = 0.01

    def __post_init__(self) -> None:
        self._normalize(
            axis=validation.ordered_axis(self.axis),
            l1=validation.non_negative_number(self.l1, "l1"),
            l2=validation.non_negative_number(self.l2, "l2"),
        )

    def _loss(self, x: Any) -> Any:
        axis = resolve_layout(self, sets.Monotone(axis=self.axis), x).axes[0]
        d = differences(x, axis, self.order)
        if d is None:
            return ops.zeros((), dtype=x.dtype)
        return self.l1 * ops.sum(ops.abs(d)) + self.l2 * ops.sum(ops.square(d))


@register
@legacy_init(("axis", "l1", "l2"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class FirstDifferencePenalty(_DifferencePenalty):
    r"""Smoothness: ``l1 * sum|w[i+1] - w[i]| + l2 * sum (w[i+1] - w[i])**2``.

    $$
    R(w) = \ell_1 \sum_i |w_{i+1} - w_i| + \ell_2 \sum_i (w_{i+1} - w_i)^2
    $$

    Pulls neighbours along ``axis`` together (TensorFlow Lattice calls this
    the Laplacian regularizer). Zero for constant slices. With ``l1`` it
    favours piecewise-constant taps, with ``l2`` slowly varying ones.

    Args:
        axis: The axis along which neighbours are compared, one int.
        l1: Finite factor ``>= 0`` for the absolute differences.
        l2: Finite factor ``>= 0`` for the squared differences.

    Example:

        >>> import numpy as np
        >>> float(FirstDifferencePenalty(l1=1.0, l2=0.0)(np.array([0.0, 2.0, 1.0])))
        3.0
    """

    order: ClassVar[int] = 1


@register
@legacy_init(("axis", "l1", "l2"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SecondDifferencePenalty(_DifferencePenalty):
    r"""Curvature: the same sums over ``w[i+1] - 2 w[i] + w[i-1]``.

    $$
    R(w) = \ell_1 \sum_i |w_{i+1} - 2 w_i + w_{i-1}| + \ell_2 \sum_i (w_{i+1} - 2 w_i + w_{i-1})^2
    $$

    Zero for slices that are linear in the index (TensorFlow Lattice's
    Hessian regularizer); favours straight or piecewise-linear taps.

    Args:
        axis: The axis along which neighbours are compared, one int.
        l1: Finite factor ``>= 0`` for the absolute second differences.
        l2: Finite factor ``>= 0`` for the squared second differences.

    Example:

        >>> import numpy as np
        >>> float(SecondDifferencePenalty(l1=0.0, l2=1.0)(np.array([0.0, 1.0, 2.0, 4.0])))
        1.0
    """

    order: ClassVar[int] = 2


monotone_penalty = MonotonePenalty
convexity_penalty = ConvexityPenalty
first_difference_penalty = FirstDifferencePenalty
second_difference_penalty = SecondDifferencePenalty
