"""The pairing of every set with its soft companion, in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import validation
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._affine import BoxPenalty, NonNegPenalty, SumToPenalty
from keras_kernel_constraints.regularizers._base import DistancePenalty, Penalty
from keras_kernel_constraints.regularizers._matrices import OrthogonalPenalty, SpectralBallPenalty
from keras_kernel_constraints.regularizers._monotone import ConvexityPenalty, MonotonePenalty
from keras_kernel_constraints.regularizers._norms import L2BallPenalty, NormBandPenalty
from keras_kernel_constraints.regularizers._simplex import SimplexPenalty
from keras_kernel_constraints.sets import Intersect


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
    sets.Convex: (lambda s, **kw: ConvexityPenalty(axis=s.axis, **kw), 2),
    sets.Concave: (lambda s, **kw: ConvexityPenalty(True, axis=s.axis, **kw), 2),
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
    if isinstance(constraint, Intersect):
        return IntersectPenalty(
            *constraint.sets, strength=strength, power=2 if power is None else power
        )
    for klass in type(constraint).__mro__:
        if klass in COMPANIONS:
            make, default = COMPANIONS[klass]
            return make(constraint, strength=strength, power=default if power is None else power)
    return DistancePenalty(constraint, strength=strength, power=2 if power is None else power)


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False, init=False)
class IntersectPenalty(Penalty):
    r"""``strength`` times the sum of the members' companion penalties.

    $$
    R(w) = \lambda \sum_i v_i(w)^p
    $$

    The soft form of ``Intersect(*sets)``: zero exactly where every member's
    companion is, that is on the intersection. Each member pays its own
    closed-form violation (``companion``) or its distance.

    Args:
        *sets: The sets (or constraints, or their configs), as for ``Intersect``.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``, for every member.

    Example:

        >>> from keras_kernel_constraints.constraints import Box, SumTo
        >>> reg = IntersectPenalty(SumTo(1.0), Box(-1.0, 5.0), strength=1.0, power=1)
        >>> float(reg(np.array([6.0, -2.0])))
        5.0
    """

    sets: tuple[sets.Set, ...]
    _: KW_ONLY
    strength: float = 0.01
    power: int = 2

    def __init__(self, *sets: Any, strength: float = 0.01, power: int = 2) -> None:
        self._normalize(
            sets=Intersect(*sets).sets,
            strength=validation.non_negative_number(strength, "strength"),
            power=validation.power(power),
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "sets": Intersect(*self.sets).get_config()["sets"],
            "strength": self.strength,
            "power": self.power,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IntersectPenalty:
        config = dict(config)
        return cls(*config.pop("sets"), **config)

    def violation(self, x: Any) -> Any:
        total = ops.zeros((), dtype=x.dtype)
        for member in self.sets:
            total = total + companion(member, strength=1.0, power=self.power).violation(x)
        return total

    def __repr__(self) -> str:
        members = ", ".join(repr(m) for m in self.sets)
        return f"IntersectPenalty({members}, strength={self.strength!r}, power={self.power!r})"


intersect_penalty = IntersectPenalty
