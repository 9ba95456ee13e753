"""Soft penalties: zero on feasible weights, growing with the violation.

Use them wherever Keras takes a regularizer (``kernel_regularizer=``,
``add_weight(..., regularizer=...)``); the penalty is added to the training
loss, so the gradient sees it (a constraint's projection does not).

==========================================  ======================================
regularizer                                 penalty
==========================================  ======================================
``NonNegPenalty(strength, power)``          ``strength * sum(relu(-w)**p)``
``BoxPenalty(lo, hi, strength, power)``     ``strength * sum(dist(w_i, [lo,hi])**p)``
``SumToPenalty(value, axis, strength, p)``  ``strength * sum_g |sum(w_g) - value|**p``
``DistancePenalty(constraint, strength, p)``  ``strength * sum_g dist(w_g, C_g)**p``
==========================================  ======================================

Every constraint's ``.penalty(strength, power=...)`` returns its companion.
"""

import keras

from keras_kernel_constraints import _lookup
from keras_kernel_constraints.regularizers._affine import (
    BoxPenalty,
    NonNegPenalty,
    SumToPenalty,
    box_penalty,
    non_neg_penalty,
    sum_to_penalty,
)
from keras_kernel_constraints.regularizers._base import DistancePenalty, Penalty

distance_penalty = DistancePenalty

ALL_REGULARIZERS = (NonNegPenalty, BoxPenalty, SumToPenalty, DistancePenalty)
"""Every public regularizer class."""

_BY_NAME = _lookup.name_table(ALL_REGULARIZERS)


def get(identifier):
    """Return a regularizer from a name, a config dict, a class or an instance.

    Args:
        identifier: ``None``; a class name or its snake_case alias
            (``"NonNegPenalty"``, ``"non_neg_penalty"``); a dict made by
            ``keras.saving.serialize_keras_object``; a class (instantiated
            with its defaults); or a callable, returned as it is.

    Returns:
        A regularizer, or ``None`` for ``None``.

    Raises:
        ValueError: for an unknown name or an object that is not callable.

    Example:

    >>> get("non_neg_penalty")
    NonNegPenalty(strength=0.01, power=1)
    """
    return _lookup.resolve(identifier, _BY_NAME, "regularizer", keras.regularizers.get)


__all__ = [
    "ALL_REGULARIZERS",
    "BoxPenalty",
    "DistancePenalty",
    "NonNegPenalty",
    "Penalty",
    "SumToPenalty",
    "box_penalty",
    "distance_penalty",
    "get",
    "non_neg_penalty",
    "sum_to_penalty",
]
