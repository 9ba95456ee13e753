"""Constraints onto the orthant, a box and a sum hyperplane."""

from __future__ import annotations

from keras_kernel_constraints import _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.constraints._base import (
    GroupedConstraint,
    ProjectionConstraint,
)
from keras_kernel_constraints.projections import (
    project_box,
    project_non_negative,
    project_sum_to,
)


@_register
class NonNeg(ProjectionConstraint):
    r"""Keeps every entry ``>= 0``: the projection ``max(w, 0)``.

    $$
    C = \{w : w_i \ge 0\}, \qquad P(w) = \max(w, 0)
    $$

    Same result as ``keras.constraints.NonNeg``, plus a dtype check, a
    companion penalty and value equality.

    Example:

        >>> layer = keras.layers.Dense(3, kernel_constraint=NonNeg())
        >>> import numpy as np
        >>> np.asarray(NonNeg()(np.array([-1.0, 2.0])))
        array([0., 2.])
    """

    def project(self, w):
        return project_non_negative(w)

    def penalty(self, strength=0.01, power=1):
        """``NonNegPenalty(strength, power)``: ``strength * sum(relu(-w)**power)``."""
        from keras_kernel_constraints.regularizers import NonNegPenalty

        return NonNegPenalty(strength=strength, power=power)

    def get_config(self):
        return {}


@_register
class Box(ProjectionConstraint):
    r"""Keeps every entry in ``[min_value, max_value]``: the projection ``clip``.

    $$
    C = \{w : \ell \le w_i \le u\}, \qquad P(w) = \min(\max(w, \ell), u)
    $$

    Args:
        min_value: Finite lower bound.
        max_value: Finite upper bound, ``>= min_value``.

    Example:

        >>> layer = keras.layers.Dense(3, kernel_constraint=Box(-1.0, 1.0))
        >>> import numpy as np
        >>> np.asarray(Box(0.0, 1.0)(np.array([-0.5, 0.5, 1.5])))
        array([0. , 0.5, 1. ])
    """

    def __init__(self, min_value=0.0, max_value=1.0):
        self.min_value, self.max_value = _validation.ordered_bounds(min_value, max_value)

    def project(self, w):
        return project_box(w, self.min_value, self.max_value)

    def penalty(self, strength=0.01, power=1):
        """``BoxPenalty``: ``strength * sum(dist(w_i, [lo, hi])**power)``."""
        from keras_kernel_constraints.regularizers import BoxPenalty

        return BoxPenalty(self.min_value, self.max_value, strength=strength, power=power)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}


@_register
class SumTo(GroupedConstraint):
    r"""Makes each group of entries sum to ``value``; entries stay free.

    $$
    C = \{w : \textstyle\sum_{i \in g} w_i = s\ \ \forall g\}, \qquad
    P(w)_g = w_g + \frac{s - \sum_{i \in g} w_i}{n_g}
    $$

    The projection onto the hyperplane ``sum(w_g) = value`` shifts every
    entry of a group by the same amount, ``(value - sum(w_g)) / n_g``. Unlike
    dividing by the sum it never flips signs and is defined when the sum is
    zero; unlike softmax it allows negative entries and entries above
    ``value`` (a sharpening kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` is
    feasible).

    Args:
        value: Finite target sum of every group.
        axis: Axis or tuple of axes forming one group. ``None`` (default)
            means one group per output unit: every axis but the last for a
            kernel (each Conv filter, each Dense unit), the whole tensor for
            a vector. Conv2DTranspose kernels are ``(kh, kw, out, in)``:
            there ``None`` groups per input channel and ``axis=(0, 1, 3)``
            per output filter.

    Example:

        >>> conv = keras.layers.Conv2D(8, 3, kernel_constraint=SumTo(1.0))
        >>> per_spatial_kernel = SumTo(1.0, axis=(0, 1))
    """

    def __init__(self, value=1.0, axis=None):
        self.value = _validation.finite_number(value, "value")
        super().__init__(axis)

    def project(self, w):
        return project_sum_to(w, self.value, self.axis)

    def penalty(self, strength=0.01, power=2):
        """``SumToPenalty``: ``strength * sum_g |sum(w_g) - value|**power``."""
        from keras_kernel_constraints.regularizers import SumToPenalty

        return SumToPenalty(self.value, self.axis, strength=strength, power=power)

    def get_config(self):
        return {"value": self.value, **super().get_config()}


non_neg = NonNeg
box = Box
sum_to = SumTo
