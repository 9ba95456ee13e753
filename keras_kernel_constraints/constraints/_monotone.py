"""Constraint onto monotone sequences (with optional bounds and steps)."""

from __future__ import annotations

from keras_kernel_constraints import _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.constraints._base import ProjectionConstraint
from keras_kernel_constraints.projections import project_monotone
from keras_kernel_constraints.projections._monotone import monotone_axis, monotone_bounds


@_register
class Monotone(ProjectionConstraint):
    r"""Keeps every slice along ``axis`` ordered: the exact isotonic projection.

    $$
    C = \{w : w_{i+1} - w_i \ge \delta,\ \ \ell \le w_i \le u\} \ \text{along axis}, \qquad
    P(w) = \arg\min_{p \in C} \|p - w\|_2
    $$

    The set, per slice ``w`` of length ``n`` along ``axis``
    (``increasing=True``; reversed for ``False``)::

        w[i + 1] - w[i] >= min_step,   min_value <= w[i] <= max_value

    ``Monotone(min_value=0.0)`` is the positive, non-decreasing kernel. The
    weight is replaced by the nearest point of that set after every
    optimizer step (pool-adjacent-violators solution, clipped; see
    ``project_monotone``), so the
    taps keep training freely inside it, unlike weights built once from
    ``cumsum(exp(v))``.

    ``axis`` is the ordered axis; every other axis indexes independent
    slices. ``axis=0`` is the tap axis of a Conv1D kernel ``(taps, in,
    out)``, of a DepthwiseConv1D kernel and of a 1-D ``add_weight``; use
    ``axis=-1`` for the last axis of a Dense kernel ``(in, out)`` (each
    input's weights ordered across the outputs) or ``axis=0`` to order each
    unit's weights across the inputs.

    Args:
        increasing: ``True`` (default) for non-decreasing slices, ``False``
            for non-increasing.
        axis: The ordered axis, one int (default 0).
        min_value: Optional finite lower bound for every entry.
        max_value: Optional finite upper bound, ``>= min_value``.
        min_step: Smallest difference between neighbours, ``>= 0``.

    Raises:
        ValueError: at construction for a non-bool ``increasing``, a
            non-int ``axis``, ``min_value > max_value`` or ``min_step < 0``;
            on first use for a scalar weight, an ``axis`` out of range, or
            bounds closer than ``(n - 1) * min_step`` for slices of length
            ``n``.

    Example:

        >>> layer = keras.layers.Conv1D(4, 9, kernel_constraint=Monotone(min_value=0.0))
        >>> import numpy as np
        >>> np.asarray(Monotone()(np.array([3.0, 1.0, 2.0])))
        array([2., 2., 2.])
    """

    def __init__(self, increasing=True, axis=0, min_value=None, max_value=None, min_step=0.0):
        self.increasing = _validation.boolean(increasing, "increasing")
        self.axis = _validation.ordered_axis(axis)
        self.min_value, self.max_value, self.min_step = monotone_bounds(
            min_value, max_value, min_step
        )

    def project(self, w):
        return project_monotone(
            w, self.axis, self.increasing, self.min_value, self.max_value, self.min_step
        )

    def group_axes(self, shape):
        axis = monotone_axis(self.axis, shape, self._owner)
        monotone_bounds(self.min_value, self.max_value, self.min_step, shape[axis], self._owner)
        return (axis,)

    def penalty(self, strength=0.01, power=2):
        """``MonotonePenalty`` without bounds, else ``DistancePenalty(self)``.

        Both vanish exactly on the set; with bounds the Euclidean distance
        accounts for the order and the box together.
        """
        from keras_kernel_constraints.regularizers import DistancePenalty, MonotonePenalty

        if self.min_value is None and self.max_value is None:
            return MonotonePenalty(
                self.increasing, self.axis, strength, power, min_step=self.min_step
            )
        return DistancePenalty(self, strength=strength, power=power)

    def get_config(self):
        return {
            "increasing": self.increasing,
            "axis": self.axis,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "min_step": self.min_step,
        }


monotone = Monotone
