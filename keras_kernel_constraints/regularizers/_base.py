"""Base class for soft penalties, and the generic distance penalty."""

from __future__ import annotations

import keras
from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import ConfigValueMixin, register


class Penalty(ConfigValueMixin, keras.regularizers.Regularizer):
    r"""A soft penalty: zero on feasible weights, growing with the violation.

    $$
    R(w) = \lambda \, v(w), \qquad v(w) = 0 \iff w \in C
    $$

    ``penalty(w) = strength * sum_groups violation_g(w) ** power``.

    float16 and bfloat16 weights are penalised in float32 and the loss is
    returned in float32 (as Keras computes losses); other weights keep their
    dtype. Subclasses implement ``violation`` on the upcast tensor.

    Args:
        strength: Finite factor ``>= 0``.
        power: ``1`` (the l1 form: constant pull, exact zero at the boundary)
            or ``2`` (the smooth quadratic form).

    Example:

        A penalty of your own: the soft form of ``{w : w_i <= 0}``.

        >>> class NonPositivePenalty(Penalty):
        ...     def violation(self, x):
        ...         return keras.ops.sum(self._raise(keras.ops.relu(x)))
        >>> import numpy as np
        >>> float(NonPositivePenalty(strength=0.5)(np.array([-1.0, 2.0, 1.0])))
        1.5
    """

    def __init__(self, strength=0.01, power=1):
        self.strength = _validation.non_negative_number(strength, "strength")
        self.power = _validation.power(power)

    def __call__(self, w):
        w, dtype = _groups.float_tensor(w, type(self).__name__)
        x = ops.cast(w, _groups.compute_dtype(dtype))
        return self.strength * self.violation(x)

    def violation(self, x):
        """``sum_groups violation_g(x) ** power`` for tensor ``x``."""
        raise NotImplementedError

    def _raise(self, v):
        """``v ** power`` for a non-negative tensor ``v``."""
        return v if self.power == 1 else ops.square(v)

    def get_config(self):
        return {"strength": self.strength, "power": self.power}


class GroupedPenalty(Penalty):
    r"""A penalty on groups of entries chosen by ``axis``, as constraints use.

    $$
    R(w) = \lambda \sum_g v(w_g)
    $$

    Args:
        axis: Axis or tuple of axes forming one group, or ``None`` (the
            convention of the constraints: one group per output unit).
        strength: Finite factor ``>= 0``.
        power: ``1`` or ``2``.

    Example:

        >>> from keras_kernel_constraints.regularizers import SumToPenalty
        >>> import numpy as np
        >>> float(SumToPenalty(1.0, axis=0, strength=1.0)(np.ones((3, 2))))  # (3-1)^2 twice
        8.0
    """

    def __init__(self, axis=None, strength=0.01, power=2):
        super().__init__(strength=strength, power=power)
        self.axis = _validation.axis_argument(axis)

    def group_axes(self, x):
        """Resolved group axes for tensor ``x``; ``ValueError`` if they do not fit."""
        return _groups.group_axes(self.axis, _groups.static_shape(x), type(self).__name__)

    def get_config(self):
        return {"axis": _validation.axis_config(self.axis), **super().get_config()}


@register
class DistancePenalty(Penalty):
    r"""``strength * sum_groups dist(w_g, C_g) ** power`` for any constraint.

    $$
    R(w) = \lambda \sum_g \|w_g - P_C(w)_g\|_2^p
    $$

    The distance is measured to the constraint's own projection, held fixed
    with ``stop_gradient``, so for ``power=2`` the gradient is
    ``2 * strength * (w - P(w))``: it points straight at the nearest feasible
    point. Groups are the constraint's groups (``group_axes``); a constraint
    from outside this package counts the whole tensor as one group.

    Args:
        constraint: A constraint instance, name or config (see
            ``keras_kernel_constraints.constraints.get``).
        strength: Finite factor ``>= 0``.
        power: ``2`` (default, squared distance) or ``1`` (distance; its
            gradient is 0 on feasible weights, never NaN).

    Example:

        >>> from keras_kernel_constraints.constraints import SumTo
        >>> reg = DistancePenalty(SumTo(1.0), strength=0.1)
        >>> layer = keras.layers.Dense(4, kernel_regularizer=reg)
    """

    def __init__(self, constraint, strength=0.01, power=2):
        from keras_kernel_constraints import constraints

        super().__init__(strength=strength, power=power)
        resolved = constraints.get(constraint)
        if resolved is None:
            raise ValueError("`constraint` must be a constraint, a name or a config; got None.")
        self.constraint = resolved

    def violation(self, x):
        from keras_kernel_constraints.constraints import ProjectionConstraint

        shape = _groups.static_shape(x)
        if isinstance(self.constraint, ProjectionConstraint):
            axes = self.constraint.group_axes(shape)
        else:
            axes = tuple(range(len(shape)))
        diff = x - ops.stop_gradient(ops.cast(self.constraint(x), x.dtype))
        if not axes:
            return ops.sum(self._raise(ops.abs(diff)))
        squared = _groups.group_sum(ops.square(diff), axes)
        if self.power == 2:
            return ops.sum(squared)
        return ops.sum(_safe_sqrt(squared))

    def get_config(self):
        return {
            "constraint": keras.saving.serialize_keras_object(self.constraint),
            **super().get_config(),
        }

    def __repr__(self):
        return (
            f"DistancePenalty({self.constraint!r}, strength={self.strength!r}, "
            f"power={self.power!r})"
        )


def _safe_sqrt(x):
    """``sqrt(x)`` whose gradient at 0 is 0 instead of inf * 0 = NaN."""
    positive = x > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)
