"""Closed-form penalties for l2 balls and norm bands: the set's distance itself."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.params import legacy_init
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._base import SetPenalty


@register
@legacy_init(("radius", "axis", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class L2BallPenalty(SetPenalty):
    r"""``strength * sum_g relu(||w_g|| - radius)**power``.

    $$
    R(w) = \lambda \sum_g \max(\|w_g\|_2 - r, 0)^p
    $$

    The soft form of ``L2Ball(radius, axis=axis)``; ``relu(||w_g|| - radius)``
    is exactly the distance of the group to the ball.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``L2Ball``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> float(L2BallPenalty(1.0, strength=1.0)(np.array([3.0, 4.0])))
        16.0
    """

    radius: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.L2Ball

    def violation(self, x: Any) -> Any:
        return ops.sum(self._to_power(self._distances(x)))


@register
@legacy_init(("min_norm", "max_norm", "axis", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class NormBandPenalty(SetPenalty):
    r"""``strength * sum_g dist(||w_g||, [min_norm, max_norm])**power``.

    $$
    R(w) = \lambda \sum_g \bigl(\max(a - \|w_g\|_2, 0) + \max(\|w_g\|_2 - b, 0)\bigr)^p
    $$

    The soft form of ``NormBand`` (and of ``UnitSphere`` with
    ``min_norm = max_norm = radius``): the distance of each group to the band.

    Args:
        min_norm: Smallest norm, ``>= 0``.
        max_norm: Largest norm, ``> 0`` and ``>= min_norm``.
        axis: Groups, as for ``NormBand``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> float(NormBandPenalty(1.0, 1.0, strength=1.0, power=1)(np.array([0.3, 0.4])))
        0.5
    """

    min_norm: float = 0.0
    max_norm: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.NormBand

    def violation(self, x: Any) -> Any:
        return ops.sum(self._to_power(self._distances(x)))


l2_ball_penalty = L2BallPenalty
norm_band_penalty = NormBandPenalty
