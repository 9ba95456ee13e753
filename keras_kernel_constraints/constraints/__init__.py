"""Weight constraints that return the exact Euclidean projection.

Use them wherever Keras takes a constraint: ``kernel_constraint=``,
``bias_constraint=``, ``embeddings_constraint=`` or
``add_weight(..., constraint=...)``. The optimizer applies them after every
update step.

===============================  ==============================================  =========
constraint                       set (per group ``g``)                           groups
===============================  ==============================================  =========
``NonNeg()``                     ``w_i >= 0``                                    entries
``Box(lo, hi)``                  ``lo <= w_i <= hi``                             entries
``SumTo(s, axis)``               ``sum(w_g) = s`` (entries otherwise free)       ``axis``
``Simplex(s, axis)``             ``w_g >= 0``, ``sum(w_g) = s``                  ``axis``
``CappedSimplex(s, lo, hi, ax)`` ``lo <= w_i <= hi``, ``sum(w_g) = s``           ``axis``
``L1Ball(r, axis)``              ``||w_g||_1 <= r``                              ``axis``
``L2Ball(r, axis)``              ``||w_g||_2 <= r`` (exact max-norm)             ``axis``
``UnitSphere(r, axis)``          ``||w_g||_2 = r``                               ``axis``
``NormBand(a, b, axis)``         ``a <= ||w_g||_2 <= b`` (exact min-max-norm)    ``axis``
``LinfBall(r)``                  ``|w_i| <= r``                                  entries
``Monotone(inc, axis, lo, hi)``  ordered along ``axis``; ``lo <= w_i <= hi``       slices
===============================  ==============================================  =========

``Monotone``'s ``axis`` is the one ordered axis (default 0, the taps of a
Conv1D kernel); every 1-D slice along it is a group.
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
from keras_kernel_constraints.constraints._base import GroupedConstraint, ProjectionConstraint
from keras_kernel_constraints.constraints._monotone import Monotone, monotone
from keras_kernel_constraints.constraints._norms import (
    L2Ball,
    LinfBall,
    NormBand,
    UnitSphere,
    l2_ball,
    linf_ball,
    norm_band,
    unit_sphere,
)
from keras_kernel_constraints.constraints._simplex import (
    CappedSimplex,
    L1Ball,
    Simplex,
    capped_simplex,
    l1_ball,
    simplex,
)

ALL_CONSTRAINTS = (
    NonNeg,
    Box,
    SumTo,
    Simplex,
    CappedSimplex,
    L1Ball,
    L2Ball,
    UnitSphere,
    NormBand,
    LinfBall,
    Monotone,
)
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
    "CappedSimplex",
    "GroupedConstraint",
    "L1Ball",
    "L2Ball",
    "LinfBall",
    "Monotone",
    "NonNeg",
    "NormBand",
    "ProjectionConstraint",
    "Simplex",
    "SumTo",
    "UnitSphere",
    "box",
    "capped_simplex",
    "get",
    "l1_ball",
    "l2_ball",
    "linf_ball",
    "monotone",
    "non_neg",
    "norm_band",
    "simplex",
    "sum_to",
    "unit_sphere",
]
