"""Base class shared by every projection constraint."""

from __future__ import annotations

import keras

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import ConfigValueMixin


class ProjectionConstraint(ConfigValueMixin, keras.constraints.Constraint):
    r"""A constraint whose call is the exact Euclidean projection onto a set.

    $$
    P(w) = \arg\min_{p \in C} \|p - w\|_2
    $$

    Keras's optimizer calls the constraint after every update,
    ``variable.assign(constraint(variable))``, so the weight is the nearest
    point of the set after each step. Subclasses implement ``project``
    (a pure function of the weight), ``group_axes`` (which entries are
    constrained together), ``penalty`` (the soft companion) and
    ``get_config``.

    Calling the constraint checks the weight first: a non-float dtype or an
    ``axis`` that does not fit the weight's rank raises ``ValueError`` naming
    the constraint, on first use rather than deep inside a backend op.

    Example:

        A constraint of your own: the set ``{w : w_i <= 0}``.

        >>> class NonPositive(ProjectionConstraint):
        ...     def project(self, w):
        ...         return -keras.ops.relu(-w)
        ...     def get_config(self):
        ...         return {}
        >>> import numpy as np
        >>> np.asarray(NonPositive()(np.array([-1.0, 2.0])))
        array([-1.,  0.])
    """

    def __call__(self, w):
        w, _ = _groups.float_tensor(w, self._owner)
        self.group_axes(_groups.static_shape(w))
        return self.project(w)

    def project(self, w):
        """Return the projection of tensor ``w``; pure, ``keras.ops`` only."""
        raise NotImplementedError

    def group_axes(self, shape) -> tuple[int, ...]:
        """Axes whose entries form one group, for a weight of ``shape``.

        ``()`` means every entry is a group of its own (elementwise sets).
        """
        return ()

    def penalty(self, strength=0.01, power=2):
        """The soft companion: ``strength * sum_groups dist(w, C)**power``.

        Subclasses with a closed-form penalty return it instead; this default
        is ``DistancePenalty``.
        """
        from keras_kernel_constraints.regularizers import DistancePenalty

        return DistancePenalty(self, strength=strength, power=power)

    @property
    def _owner(self) -> str:
        return type(self).__name__


class GroupedConstraint(ProjectionConstraint):
    r"""A projection constraint acting on groups of entries chosen by ``axis``.

    $$
    P(w)_g = \arg\min_{p \in C} \|p - w_g\|_2 \ \text{for every group } g
    $$

    ``axis`` is the axis or tuple of axes whose entries form one group;
    ``None`` means every axis but the last for a weight of rank >= 2 and the
    whole tensor otherwise. It is checked for type at construction and
    against the weight's rank on first use.

    Args:
        axis: Axis or tuple of axes forming one group, or ``None``.

    Example:

        >>> from keras_kernel_constraints.constraints import SumTo
        >>> SumTo(1.0).group_axes((3, 3, 8, 16))  # one group per filter
        (0, 1, 2)
        >>> SumTo(1.0, axis=(0, 1)).group_axes((3, 3, 8, 16))  # per spatial kernel
        (0, 1)
    """

    def __init__(self, axis=None):
        self.axis = _validation.axis_argument(axis)

    def group_axes(self, shape):
        return _groups.group_axes(self.axis, shape, self._owner)

    def get_config(self):
        return {"axis": _validation.axis_config(self.axis)}
