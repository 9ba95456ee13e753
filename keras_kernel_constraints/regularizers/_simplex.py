"""Closed-form penalty for the simplex."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.params import legacy_init
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._affine import sum_residual
from keras_kernel_constraints.regularizers._base import SetPenalty


@register
@legacy_init(("value", "axis", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SimplexPenalty(SetPenalty):
    r"""``strength * (sum_i relu(-w_i)**p + sum_g |sum(w_g) - value|**p)``.

    $$
    R(w) = \lambda \Bigl(\sum_i \max(-w_i, 0)^p + \sum_g \Bigl|\sum_{i \in g} w_i - s\Bigr|^p\Bigr)
    $$

    The soft form of ``Simplex(value, axis=axis)``: every negative entry and
    every group's sum residual pay. Zero exactly on the simplex.

    Args:
        value: Positive target sum.
        axis: Groups, as for ``Simplex``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> float(SimplexPenalty(1.0, strength=1.0, power=1)(np.array([-0.5, 1.0])))
        1.0
    """

    value: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.Simplex

    def violation(self, x: Any) -> Any:
        layout = self._layout(x)
        negative = ops.sum(self._to_power(ops.relu(-x)))
        if layout.size == 0:
            return negative
        return negative + ops.sum(self._to_power(sum_residual(x, layout.axes, self.value)))


simplex_penalty = SimplexPenalty
