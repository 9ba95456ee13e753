"""Closed-form penalties for l2 balls and norm bands: the distance itself."""

from __future__ import annotations

from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.regularizers._base import GroupedPenalty


def band_distance(x, axes, min_norm, max_norm):
    """Distance of each group's norm to ``[min_norm, max_norm]``, kept broadcastable.

    For a non-zero group this is the Euclidean distance of the group to the
    set ``{p : min_norm <= ||p|| <= max_norm}``.
    """
    norm = _groups.group_norm(x, axes)
    return ops.relu(min_norm - norm) + ops.relu(norm - max_norm)


@_register
class L2BallPenalty(GroupedPenalty):
    r"""``strength * sum_g relu(||w_g|| - radius)**power``.

    $$
    R(w) = \lambda \sum_g \max(\|w_g\|_2 - r, 0)^p
    $$

    The soft form of ``L2Ball(radius, axis)``; ``relu(||w_g|| - radius)`` is
    exactly the distance of the group to the ball.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``L2Ball``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> float(L2BallPenalty(1.0, strength=1.0)(np.array([3.0, 4.0])))
        16.0
    """

    def __init__(self, radius=1.0, axis=None, strength=0.01, power=2):
        super().__init__(axis=axis, strength=strength, power=power)
        self.radius = _validation.positive_number(radius, "radius")

    def violation(self, x):
        return ops.sum(self._raise(band_distance(x, self.group_axes(x), 0.0, self.radius)))

    def get_config(self):
        return {"radius": self.radius, **super().get_config()}


@_register
class NormBandPenalty(GroupedPenalty):
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

    def __init__(self, min_norm=0.0, max_norm=1.0, axis=None, strength=0.01, power=2):
        super().__init__(axis=axis, strength=strength, power=power)
        self.min_norm, self.max_norm = _validation.norm_bounds(min_norm, max_norm)

    def violation(self, x):
        distance = band_distance(x, self.group_axes(x), self.min_norm, self.max_norm)
        return ops.sum(self._raise(distance))

    def get_config(self):
        return {"min_norm": self.min_norm, "max_norm": self.max_norm, **super().get_config()}


l2_ball_penalty = L2BallPenalty
norm_band_penalty = NormBandPenalty
