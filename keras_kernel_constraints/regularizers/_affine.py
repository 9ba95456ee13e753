"""Closed-form penalties for the orthant, a box and a sum hyperplane."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

import numpy as np
from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.params import legacy_init
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._base import SetPenalty


@register
@legacy_init(("strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class NonNegPenalty(SetPenalty):
    r"""``strength * sum(relu(-w) ** power)``: the soft form of ``NonNeg``.

    $$
    R(w) = \lambda \sum_i \max(-w_i, 0)^p
    $$

    Args:
        strength: Finite factor ``>= 0``.
        power: ``1`` (default) or ``2``.

    Example:

        >>> import numpy as np
        >>> float(NonNegPenalty(strength=0.5)(np.array([-2.0, 1.0, -1.0])))
        1.5
    """

    _: KW_ONLY
    strength: float = 0.01
    power: int = 1

    set_type = sets.NonNegative

    def violation(self, x: Any) -> Any:
        return ops.sum(self._to_power(self._distances(x)))


@register
@legacy_init(("min_value", "max_value", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class BoxPenalty(SetPenalty):
    r"""``strength * sum((relu(lo - w) + relu(w - hi)) ** power)``.

    $$
    R(w) = \lambda \sum_i \bigl(\max(\ell - w_i, 0) + \max(w_i - u, 0)\bigr)^p
    $$

    The soft form of ``Box(min_value, max_value)``: each entry pays for its
    distance to the interval.

    Args:
        min_value: Lower bound, or ``None`` (or ``-inf``): no lower bound. As
            for ``Box``, either bound may be an array of per-entry bounds.
        max_value: Upper bound, ``>= min_value``, or ``None`` (or ``inf``).
        strength: Finite factor ``>= 0``.
        power: ``1`` (default) or ``2``.

    As for ``Box``, ``BoxPenalty()`` with neither bound keeps its 0.1.0
    meaning ``[0, 1]`` with a ``DeprecationWarning``.

    Example:

        >>> import numpy as np
        >>> float(BoxPenalty(0.0, 1.0, strength=1.0)(np.array([-0.5, 0.5, 3.0])))
        2.5
        >>> float(BoxPenalty(max_value=1.0, strength=1.0)(np.array([-5.0, 3.0])))
        2.0
    """

    min_value: float | tuple | None = None
    max_value: float | tuple | None = None
    _: KW_ONLY
    strength: float = 0.01
    power: int = 1

    set_type = sets.Box

    def violation(self, x: Any) -> Any:
        return ops.sum(self._to_power(self._distances(x)))


@register
@legacy_init(("value", "axis", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SumToPenalty(SetPenalty):
    r"""``strength * sum_groups |sum(w_g) - value| ** power``.

    $$
    R(w) = \lambda \sum_g \Bigl|\sum_{i \in g} w_i - s\Bigr|^p
    $$

    The soft form of ``SumTo(value, axis=axis)``, with the same groups. (The
    Euclidean distance to the hyperplane is ``|sum(w_g) - value| / sqrt(n)``;
    use ``DistancePenalty(SumTo(...))`` for that scaling.)

    Args:
        value: Finite target sum.
        axis: Groups, as for ``SumTo``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> import numpy as np
        >>> float(SumToPenalty(1.0, strength=1.0)(np.array([0.5, 1.5])))
        1.0
    """

    value: float | tuple = 1.0
    _: KW_ONLY
    axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.SumTo

    def violation(self, x: Any) -> Any:
        layout = self._layout(x)
        if layout.size == 0:
            return ops.zeros((), dtype=x.dtype)
        return ops.sum(self._to_power(sum_residual(x, layout.axes, self.value)))


def sum_residual(x: Any, axes: tuple[int, ...], value: float | tuple) -> Any:
    """``|sum(x_g) - value|`` per group, kept broadcastable (``value``: one
    target, or one per group)."""
    if isinstance(value, tuple):
        value = ops.convert_to_tensor(np.asarray(value), dtype=x.dtype)
    return ops.abs(reductions.group_sum(x, axes) - value)


non_neg_penalty = NonNegPenalty
box_penalty = BoxPenalty
sum_to_penalty = SumToPenalty
