"""Closed-form penalty for the simplex."""

from __future__ import annotations

from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.regularizers._affine import sum_residual
from keras_kernel_constraints.regularizers._base import GroupedPenalty


@_register
class SimplexPenalty(GroupedPenalty):
    r"""``strength * (sum_i relu(-w_i)**p + sum_g |sum(w_g) - value|**p)``.

    $$
    R(w) = \lambda \Bigl(\sum_i \max(-w_i, 0)^p + \sum_g \Bigl|\sum_{i \in g} w_i - s\Bigr|^p\Bigr)
    $$

    The soft form of ``Simplex(value, axis)``: every negative entry and
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

    def __init__(self, value=1.0, axis=None, strength=0.01, power=2):
        super().__init__(axis=axis, strength=strength, power=power)
        self.value = _validation.positive_number(value, "value")

    def violation(self, x):
        axes = self.group_axes(x)
        negative = ops.sum(self._raise(ops.relu(-x)))
        if _groups.group_size(_groups.static_shape(x), axes) == 0:
            return negative
        return negative + ops.sum(self._raise(sum_residual(x, axes, self.value)))

    def get_config(self):
        return {"value": self.value, **super().get_config()}


simplex_penalty = SimplexPenalty
