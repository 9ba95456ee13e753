"""Keras constraints whose call is a projection, and the adapter over sets."""

from __future__ import annotations

from typing import Any

import keras

from keras_kernel_constraints import regularizers
from keras_kernel_constraints._core import dtypes, variables


class ProjectionConstraint(keras.constraints.Constraint):
    r"""A constraint whose call is the exact Euclidean projection onto a set.

    $$
    P(w) = \underset{p \in C}{\mathrm{arg\,min}}\, \|p - w\|_2
    $$

    Keras's optimizer calls the constraint after every update,
    ``variable.assign(constraint(variable))``, so the weight is the nearest
    point of the set after each step. Calling it checks the weight first: a
    non-float dtype raises ``ValueError`` naming the constraint, on first use
    rather than deep inside a backend op.

    The constraints of this package adapt a set of
    ``keras_kernel_constraints.sets``. For a set of your own, subclass this
    class and implement ``project`` (a pure function of the weight, with
    ``keras.ops`` only) and ``get_config``.

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

    def __call__(self, w: Any) -> Any:
        name = variables.name_of(w)
        w, dtype = dtypes.float_tensor(w, type(self).__name__)
        projected = self.project(w)
        check_projection(self, projected, tuple(w.shape), dtype, name)
        return projected

    def project(self, w: Any) -> Any:
        """Return the projection of tensor ``w``; pure, ``keras.ops`` only."""
        raise NotImplementedError

    def penalty(self, strength: float = 0.01, power: int | None = None) -> Any:
        """The soft companion, zero on the set: ``regularizers.companion(self, ...)``.

        A closed-form penalty where the set has one, else
        ``DistancePenalty(self)``; ``power=None`` takes the companion's
        default (1 for elementwise sets, 2 otherwise).
        """
        return regularizers.companion(self, strength=strength, power=power)


class SetConstraint(ProjectionConstraint):
    """The Keras face of a set: subclasses are ``(sets.X, SetConstraint)``.

    The set supplies the parameters, their checks, the config and the
    projection; this class supplies the Keras calling convention, so the
    layout is resolved once per call and every error names the constraint.
    """

    def __call__(self, w: Any) -> Any:
        return self.project(w, owner=type(self).__name__)  # type: ignore[call-arg]

    def group_axes(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Axes whose entries form one group, for a weight of ``shape``.

        ``()`` means every entry is a group of its own. Raises ``ValueError``
        naming the constraint if the weight does not fit.
        """
        resolve = self.resolve
        return resolve(tuple(shape), "float32", type(self).__name__).axes


def check_projection(
    constraint: Any, projected: Any, shape: tuple[Any, ...], dtype: str, name: str | None
) -> None:
    """Raise ``ValueError`` naming ``constraint`` and the variable if ``projected``
    cannot replace a weight of ``shape`` and ``dtype``.

    Keras assigns a constraint's result to the variable: an int32 result
    silently truncates it (to zeros, for weights below 1), and another shape
    fails inside ``assign`` with an error that does not name the constraint.
    Shapes are static, so this costs nothing in a compiled step.
    """
    got_dtype = keras.backend.standardize_dtype(getattr(projected, "dtype", type(projected)))
    got_shape = tuple(getattr(projected, "shape", ()))
    known = len(got_shape) == len(shape) and all(
        a is None or b is None or a == b for a, b in zip(got_shape, shape, strict=True)
    )
    if known and got_dtype == dtype:
        return
    where = f"variable {name!r}" if name else "a weight"
    raise ValueError(
        f"{type(constraint).__name__} returned a tensor of shape {got_shape} and dtype "
        f"{got_dtype} for {where} of shape {shape} and dtype {dtype}; a constraint must "
        "return the projected weight itself: same shape, same dtype (cast with "
        "keras.ops.cast(result, w.dtype) if your computation changes it)."
    )
