"""Soft penalties: zero on feasible weights, growing with the violation.

Use them wherever Keras takes a regularizer (``kernel_regularizer=``,
``add_weight(..., regularizer=...)``); the penalty is added to the training
loss, so the gradient sees it (a constraint's projection does not).

Each is ``strength * sum(violation**p)`` with ``p = power`` (1 or 2):

==============================================  ==========================================
regularizer                                     violation
==============================================  ==========================================
``NonNegPenalty(strength, power)``              ``relu(-w_i)`` per entry
``BoxPenalty(lo, hi, strength, power)``         ``dist(w_i, [lo, hi])`` per entry
``SumToPenalty(value, axis, strength, power)``  ``|sum(w_g) - value|`` per group
``SimplexPenalty(value, axis, ...)``            ``relu(-w_i)`` and ``|sum(w_g) - value|``
``L2BallPenalty(radius, axis, ...)``            ``relu(||w_g|| - radius)`` per group
``NormBandPenalty(min_norm, max_norm, ...)``    ``dist(||w_g||, [min_norm, max_norm])``
``MonotonePenalty(inc, axis, ..., min_step)``   ``relu(min_step - (w[i+1] - w[i]))``
``DistancePenalty(constraint, ...)``            ``dist(w_g, C_g)`` per group
==============================================  ==========================================

Smoothness penalties are not zero on a set; they pull neighbours along one
axis together: ``FirstDifferencePenalty(axis, l1, l2)`` on ``w[i+1] - w[i]``
and ``SecondDifferencePenalty(axis, l1, l2)`` on ``w[i+1] - 2 w[i] + w[i-1]``,
each ``l1 * sum|d| + l2 * sum d**2``.

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
from keras_kernel_constraints.regularizers._base import DistancePenalty, GroupedPenalty, Penalty
from keras_kernel_constraints.regularizers._monotone import (
    DifferencePenalty,
    FirstDifferencePenalty,
    MonotonePenalty,
    SecondDifferencePenalty,
    first_difference_penalty,
    monotone_penalty,
    second_difference_penalty,
)
from keras_kernel_constraints.regularizers._norms import (
    L2BallPenalty,
    NormBandPenalty,
    l2_ball_penalty,
    norm_band_penalty,
)
from keras_kernel_constraints.regularizers._simplex import SimplexPenalty, simplex_penalty

distance_penalty = DistancePenalty

ALL_REGULARIZERS = (
    NonNegPenalty,
    BoxPenalty,
    SumToPenalty,
    SimplexPenalty,
    L2BallPenalty,
    NormBandPenalty,
    MonotonePenalty,
    FirstDifferencePenalty,
    SecondDifferencePenalty,
    DistancePenalty,
)
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
    "DifferencePenalty",
    "DistancePenalty",
    "FirstDifferencePenalty",
    "GroupedPenalty",
    "L2BallPenalty",
    "MonotonePenalty",
    "NonNegPenalty",
    "NormBandPenalty",
    "Penalty",
    "SecondDifferencePenalty",
    "SimplexPenalty",
    "SumToPenalty",
    "box_penalty",
    "distance_penalty",
    "first_difference_penalty",
    "get",
    "l2_ball_penalty",
    "monotone_penalty",
    "non_neg_penalty",
    "norm_band_penalty",
    "second_difference_penalty",
    "simplex_penalty",
    "sum_to_penalty",
]
