"""Closed-form penalties for the orthant, a box and a sum hyperplane."""

from __future__ import annotations

from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.regularizers._base import GroupedPenalty, Penalty


@_register
class NonNegPenalty(Penalty):
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

    def __init__(self, strength=0.01, power=1):
        super().__init__(strength=strength, power=power)

    def violation(self, x):
        return ops.sum(self._raise(ops.relu(-x)))


@_register
class BoxPenalty(Penalty):
    r"""``strength * sum((relu(lo - w) + relu(w - hi)) ** power)``.

    $$
    R(w) = \lambda \sum_i \bigl(\max(\ell - w_i, 0) + \max(w_i - u, 0)\bigr)^p
    $$

    The soft form of ``Box(lo, hi)``: each entry pays for its distance to
    the interval.

    Args:
        min_value: Finite lower bound ``lo``.
        max_value: Finite upper bound ``hi >= lo``.
        strength: Finite factor ``>= 0``.
        power: ``1`` (default) or ``2``.

    Example:

        >>> import numpy as np
        >>> float(BoxPenalty(0.0, 1.0, strength=1.0)(np.array([-0.5, 0.5, 3.0])))
        2.5
    """

    def __init__(self, min_value=0.0, max_value=1.0, strength=0.01, power=1):
        super().__init__(strength=strength, power=power)
        self.min_value, self.max_value = _validation.ordered_bounds(min_value, max_value)

    def violation(self, x):
        below = ops.relu(self.min_value - x)
        above = ops.relu(x - self.max_value)
        return ops.sum(self._raise(below + above))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, **super().get_config()}


@_register
class SumToPenalty(GroupedPenalty):
    r"""``strength * sum_groups |sum(w_g) - value| ** power``.

    $$
    R(w) = \lambda \sum_g \Bigl|\sum_{i \in g} w_i - s\Bigr|^p
    $$

    The soft form of ``SumTo(value, axis)``, with the same groups. (The
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

    def __init__(self, value=1.0, axis=None, strength=0.01, power=2):
        super().__init__(axis=axis, strength=strength, power=power)
        self.value = _validation.finite_number(value, "value")

    def violation(self, x):
        axes = self.group_axes(x)
        if _groups.group_size(_groups.static_shape(x), axes) == 0:
            return ops.zeros((), dtype=x.dtype)
        return ops.sum(self._raise(sum_residual(x, axes, self.value)))

    def get_config(self):
        return {"value": self.value, **super().get_config()}


def sum_residual(x, axes, value):
    """``|sum(x_g) - value|`` per group, kept broadcastable."""
    return ops.abs(_groups.group_sum(x, axes) - value)


non_neg_penalty = NonNegPenalty
box_penalty = BoxPenalty
sum_to_penalty = SumToPenalty
