"""The pairing of every set with its soft companion, in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_kernel_constraints import sets
from keras_kernel_constraints.regularizers._affine import BoxPenalty, NonNegPenalty, SumToPenalty
from keras_kernel_constraints.regularizers._base import DistancePenalty, Penalty
from keras_kernel_constraints.regularizers._matrices import OrthogonalPenalty, SpectralBallPenalty
from keras_kernel_constraints.regularizers._monotone import MonotonePenalty
from keras_kernel_constraints.regularizers._norms import L2BallPenalty, NormBandPenalty
from keras_kernel_constraints.regularizers._simplex import SimplexPenalty


def _monotone(s: Any, **kw: Any) -> Penalty:
    # With bounds, the order penalty alone is not zero only on the set.
    if s.min_value is None and s.max_value is None:
        return MonotonePenalty(s.increasing, min_step=s.min_step, axis=s.axis, **kw)
    return DistancePenalty(s, **kw)


# set class -> (companion factory, default power). Sets not listed get
# DistancePenalty with power 2.
COMPANIONS: dict[type[sets.Set], tuple[Callable[..., Penalty], int]] = {
    sets.NonNegative: (lambda s, **kw: NonNegPenalty(**kw), 1),
    sets.Box: (lambda s, **kw: BoxPenalty(s.min_value, s.max_value, **kw), 1),
    sets.LinfBall: (lambda s, **kw: BoxPenalty(-s.radius, s.radius, **kw), 1),
    sets.SumTo: (lambda s, **kw: SumToPenalty(s.value, axis=s.axis, **kw), 2),
    sets.Simplex: (lambda s, **kw: SimplexPenalty(s.value, axis=s.axis, **kw), 2),
    sets.L2Ball: (lambda s, **kw: L2BallPenalty(s.radius, axis=s.axis, **kw), 2),
    sets.Sphere: (lambda s, **kw: NormBandPenalty(s.radius, s.radius, axis=s.axis, **kw), 2),
    sets.NormBand: (lambda s, **kw: NormBandPenalty(s.min_norm, s.max_norm, axis=s.axis, **kw), 2),
    sets.Monotone: (_monotone, 2),
    sets.Orthogonal: (
        lambda s, **kw: OrthogonalPenalty(axis=s.axis, batch_axis=s.batch_axis, **kw),
        2,
    ),
    sets.SpectralBall: (
        lambda s, **kw: SpectralBallPenalty(
            s.max_value, axis=s.axis, batch_axis=s.batch_axis, **kw
        ),
        2,
    ),
}


def companion(constraint: Any, *, strength: float = 0.01, power: int | None = None) -> Penalty:
    r"""The soft companion of a constraint: a penalty zero exactly on its set.

    $$
    R(w) = \lambda\, v(w)^p, \qquad v(w) = 0 \iff w \in C
    $$

    A closed-form penalty where the set has one (``NonNegPenalty`` for
    ``NonNeg``, ``SumToPenalty`` for ``SumTo``, ...), else
    ``DistancePenalty(constraint)``. Also ``constraint.penalty(...)``.

    Args:
        constraint: A constraint of this package (or any Keras constraint,
            which gets ``DistancePenalty``).
        strength: Finite factor ``>= 0``.
        power: ``1`` or ``2``; ``None`` takes the companion's default (1 for
            elementwise sets, 2 otherwise).

    Returns:
        A registered, serializable penalty.

    Example:

        >>> from keras_kernel_constraints.constraints import SumTo
        >>> companion(SumTo(1.0, axis=(0, 1)), strength=0.1)
        SumToPenalty(value=1.0, axis=[0, 1], strength=0.1, power=2)
    """
    for klass in type(constraint).__mro__:
        if klass in COMPANIONS:
            make, default = COMPANIONS[klass]
            return make(constraint, strength=strength, power=default if power is None else power)
    return DistancePenalty(constraint, strength=strength, power=2 if power is None else power)
