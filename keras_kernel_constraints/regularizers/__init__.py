"""Soft penalties: zero on feasible weights, growing with the violation.

Use them wherever Keras takes a regularizer (``kernel_regularizer=``,
``add_weight(..., regularizer=...)``); the penalty is added to the training
loss, so the gradient sees it (a constraint's projection does not). Each is
``strength * sum(violation**p)`` with ``p = power`` (1 or 2), where the
violation is zero exactly on the set of the constraint of the same name.

``DistancePenalty(constraint)`` is the Euclidean distance to any
constraint's set; ``companion(constraint)`` (or ``constraint.penalty()``)
picks each constraint's closed-form penalty. Smoothness penalties
(``FirstDifferencePenalty``, ``SecondDifferencePenalty``) are zero on no set
and take Keras's ``l1``/``l2`` vocabulary. The table of every constraint and
its companion is on the documentation's home page.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_kernel_constraints._core import registry
from keras_kernel_constraints._core.params import retired_names
from keras_kernel_constraints.regularizers._affine import (
    BoxPenalty,
    NonNegPenalty,
    SumToPenalty,
    box_penalty,
    non_neg_penalty,
    sum_to_penalty,
)
from keras_kernel_constraints.regularizers._base import DistancePenalty, Penalty, SetPenalty
from keras_kernel_constraints.regularizers._companions import (
    IntersectPenalty,
    companion,
    intersect_penalty,
)
from keras_kernel_constraints.regularizers._matrices import (
    OrthogonalPenalty,
    SpectralBallPenalty,
    orthogonal_penalty,
    spectral_ball_penalty,
)
from keras_kernel_constraints.regularizers._monotone import (
    ConvexityPenalty,
    FirstDifferencePenalty,
    MonotonePenalty,
    SecondDifferencePenalty,
    _DifferencePenalty,
    convexity_penalty,
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

ALL_REGULARIZERS: tuple[type[Any], ...] = (
    NonNegPenalty,
    BoxPenalty,
    SumToPenalty,
    SimplexPenalty,
    L2BallPenalty,
    NormBandPenalty,
    MonotonePenalty,
    ConvexityPenalty,
    OrthogonalPenalty,
    SpectralBallPenalty,
    FirstDifferencePenalty,
    SecondDifferencePenalty,
    DistancePenalty,
    IntersectPenalty,
)
"""Every public regularizer class."""

_BY_NAME = registry.name_table(ALL_REGULARIZERS)


def get(identifier: Any) -> Any:
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
    return registry.resolve(identifier, _BY_NAME, "regularizer", keras.regularizers.get)


__getattr__ = retired_names(
    __name__,
    {"GroupedPenalty": SetPenalty, "DifferencePenalty": _DifferencePenalty},
    "subclass Penalty.",
)


__all__ = [
    "ALL_REGULARIZERS",
    "BoxPenalty",
    "ConvexityPenalty",
    "DistancePenalty",
    "FirstDifferencePenalty",
    "IntersectPenalty",
    "L2BallPenalty",
    "MonotonePenalty",
    "NonNegPenalty",
    "NormBandPenalty",
    "OrthogonalPenalty",
    "Penalty",
    "SecondDifferencePenalty",
    "SimplexPenalty",
    "SpectralBallPenalty",
    "SumToPenalty",
    "box_penalty",
    "companion",
    "convexity_penalty",
    "distance_penalty",
    "first_difference_penalty",
    "get",
    "intersect_penalty",
    "l2_ball_penalty",
    "monotone_penalty",
    "non_neg_penalty",
    "norm_band_penalty",
    "orthogonal_penalty",
    "second_difference_penalty",
    "simplex_penalty",
    "spectral_ball_penalty",
    "sum_to_penalty",
]
