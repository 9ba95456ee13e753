"""Weight constraints that return the exact Euclidean projection.

Use them wherever Keras takes a constraint: ``kernel_constraint=``,
``bias_constraint=``, ``embeddings_constraint=`` or
``add_weight(..., constraint=...)``. The optimizer applies them after every
update step.

======================  ==========================================  =========
constraint              set (per group ``g``)                       groups
======================  ==========================================  =========
``NonNeg()``            ``w_i >= 0``                                entries
``Box(lo, hi)``         ``lo <= w_i <= hi``                         entries
``SumTo(s, axis)``      ``sum(w_g) = s`` (entries otherwise free)   ``axis``
======================  ==========================================  =========
"""

import keras

from keras_kernel_constraints import _lookup
from keras_kernel_constraints.constraints._affine import (
    Box,
    NonNeg,
    SumTo,
    box,
    non_neg,
    sum_to,
)
from keras_kernel_constraints.constraints._base import ProjectionConstraint

ALL_CONSTRAINTS = (NonNeg, Box, SumTo)
"""Every public constraint class; tests and ``get`` iterate over it."""

_BY_NAME = _lookup.name_table(ALL_CONSTRAINTS)


def get(identifier):
    """Return a constraint from a name, a config dict, a class or an instance.

    Args:
        identifier: ``None``; a class name or its snake_case alias
            (``"SumTo"``, ``"sum_to"``); a dict made by
            ``keras.saving.serialize_keras_object``; a class (instantiated
            with its defaults); or a callable, returned as it is.

    Returns:
        A constraint, or ``None`` for ``None``.

    Raises:
        ValueError: for an unknown name or an object that is not callable.

    Example:

    >>> get("sum_to")
    SumTo(value=1.0, axis=None)
    """
    return _lookup.resolve(identifier, _BY_NAME, "constraint", keras.constraints.get)


__all__ = [
    "ALL_CONSTRAINTS",
    "Box",
    "NonNeg",
    "ProjectionConstraint",
    "SumTo",
    "box",
    "get",
    "non_neg",
    "sum_to",
]
