"""Penalties on the order and smoothness of a weight along one axis."""

from __future__ import annotations

import keras
from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import ConfigValueMixin
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.projections._monotone import monotone_axis
from keras_kernel_constraints.regularizers._base import Penalty


def differences(x, axis, order=1):
    """Finite differences of ``order`` along ``axis`` (empty when too short)."""
    n = _groups.static_shape(x)[axis]
    if n <= order:
        return None
    x = ops.convert_to_tensor(x)
    lead = (slice(None),) * axis
    for _ in range(order):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


@_register
class MonotonePenalty(Penalty):
    r"""``strength * sum(relu(min_step - dw) ** power)``: the soft ``Monotone``.

    $$
    R(w) = \lambda \sum_i \max\bigl(\delta - (w_{i+1} - w_i), 0\bigr)^p \ \text{along axis}
    $$

    ``dw`` are the differences of neighbours along ``axis``
    (``w[i + 1] - w[i]``; negated for ``increasing=False``), so the penalty
    is zero exactly when every step is at least ``min_step``.

    Args:
        increasing: ``True`` (default) or ``False``.
        axis: The ordered axis, one int (default 0).
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.
        min_step: Smallest step that costs nothing, ``>= 0``.

    Example:

        >>> import numpy as np
        >>> float(MonotonePenalty(strength=1.0)(np.array([0.0, 2.0, 1.0, 3.0])))
        1.0
    """

    def __init__(self, increasing=True, axis=0, strength=0.01, power=2, min_step=0.0):
        super().__init__(strength=strength, power=power)
        self.increasing = _validation.boolean(increasing, "increasing")
        self.axis = _validation.ordered_axis(axis)
        self.min_step = _validation.non_negative_number(min_step, "min_step")

    def violation(self, x):
        axis = monotone_axis(self.axis, _groups.static_shape(x), type(self).__name__)
        steps = differences(x, axis)
        if steps is None:
            return ops.zeros((), dtype=x.dtype)
        if not self.increasing:
            steps = -steps
        return ops.sum(self._raise(ops.relu(self.min_step - steps)))

    def get_config(self):
        return {
            "increasing": self.increasing,
            "axis": self.axis,
            **super().get_config(),
            "min_step": self.min_step,
        }


class DifferencePenalty(ConfigValueMixin, keras.regularizers.Regularizer):
    r"""``l1 * sum|D w| + l2 * sum (D w)**2`` for a finite-difference operator ``D``.

    $$
    R(w) = \ell_1 \sum |D w| + \ell_2 \sum (D w)^2
    $$

    Subclasses fix the order of the differences. float16 and bfloat16
    weights are penalised in float32, like every penalty here.

    Args:
        axis: The axis along which differences are taken (default 0).
        l1: Finite factor ``>= 0`` of the sum of absolute differences.
        l2: Finite factor ``>= 0`` of the sum of squared differences.

    Example:

        >>> from keras_kernel_constraints.regularizers import FirstDifferencePenalty
        >>> import numpy as np
        >>> float(FirstDifferencePenalty(l1=1.0, l2=0.0)(np.array([0.0, 1.0, 3.0])))
        3.0
    """

    order = 1

    def __init__(self, axis=0, l1=0.0, l2=0.01):
        self.axis = _validation.ordered_axis(axis)
        self.l1 = _validation.non_negative_number(l1, "l1")
        self.l2 = _validation.non_negative_number(l2, "l2")

    def __call__(self, w):
        owner = type(self).__name__
        w, dtype = _groups.float_tensor(w, owner)
        x = ops.cast(w, _groups.compute_dtype(dtype))
        axis = monotone_axis(self.axis, _groups.static_shape(x), owner)
        d = differences(x, axis, self.order)
        if d is None:
            return ops.zeros((), dtype=x.dtype)
        return self.l1 * ops.sum(ops.abs(d)) + self.l2 * ops.sum(ops.square(d))

    def get_config(self):
        return {"axis": self.axis, "l1": self.l1, "l2": self.l2}


@_register
class FirstDifferencePenalty(DifferencePenalty):
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

    order = 1


@_register
class SecondDifferencePenalty(DifferencePenalty):
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

    order = 2


monotone_penalty = MonotonePenalty
first_difference_penalty = FirstDifferencePenalty
second_difference_penalty = SecondDifferencePenalty
