"""Soft penalties: the base class and the distance to any constraint's set."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any, ClassVar

import keras
from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import dtypes, registry, validation
from keras_kernel_constraints._core.params import Parameters, legacy_init, legacy_positional


class CheckedRegularizer(Parameters, keras.regularizers.Regularizer):
    """The envelope of every regularizer here: a float check naming the class,
    then ``_loss`` on the weight upcast to float32 when it is half precision."""

    def __call__(self, w: Any) -> Any:
        w, dtype = dtypes.float_tensor(w, type(self).__name__)
        return self._loss(ops.cast(w, dtypes.compute_dtype(dtype)))

    def _loss(self, x: Any) -> Any:
        raise NotImplementedError


def resolve_layout(owner: object, a_set: sets.Set, x: Any) -> Any:
    """``a_set``'s layout resolved against tensor ``x``; errors name ``owner``'s class."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    return a_set.resolve(tuple(x.shape), dtype, type(owner).__name__)


class Penalty(CheckedRegularizer):
    r"""A soft penalty: zero on feasible weights, growing with the violation.

    $$
    R(w) = \lambda \, v(w), \qquad v(w) = 0 \iff w \in C
    $$

    ``penalty(w) = strength * sum_groups violation_g(w) ** power``.

    float16 and bfloat16 weights are penalised in float32 and the loss is
    returned in float32 (as Keras computes losses); other weights keep their
    dtype. Subclasses implement ``violation`` on the upcast tensor; the
    package's own are frozen dataclasses whose fields are their config.

    Args:
        strength: Finite factor ``>= 0``.
        power: ``1`` (the l1 form: constant pull, exact zero at the boundary)
            or ``2`` (the smooth quadratic form).

    Example:

        A penalty of your own: the soft form of ``{w : w_i <= 0}``.

        >>> class NonPositivePenalty(Penalty):
        ...     def violation(self, x):
        ...         return keras.ops.sum(self._to_power(keras.ops.relu(x)))
        >>> import numpy as np
        >>> float(NonPositivePenalty(strength=0.5)(np.array([-1.0, 2.0, 1.0])))
        1.5
    """

    strength: float
    power: int

    @legacy_positional(("strength", "power"))
    def __init__(self, *, strength: float = 0.01, power: int = 1) -> None:
        # The package's penalties are dataclasses with fields of their own;
        # this constructor serves penalties written as plain subclasses.
        self._normalize(strength=strength, power=power)
        self.__post_init__()

    def __post_init__(self) -> None:
        self._normalize(
            strength=validation.non_negative_number(self.strength, "strength"),
            power=validation.power(self.power),
        )

    def get_config(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return super().get_config()
        return {"strength": self.strength, "power": self.power}

    def _loss(self, x: Any) -> Any:
        return self.strength * self.violation(x)

    def violation(self, x: Any) -> Any:
        """``sum_groups violation_g(x) ** power`` for tensor ``x``."""
        raise NotImplementedError

    def _to_power(self, v: Any) -> Any:
        """``v ** power`` for a non-negative tensor ``v``."""
        return v if self.power == 1 else ops.square(v)

    _raise = _to_power  # the 0.1.0 name, used by penalties users wrote


class SetPenalty(Penalty):
    """A penalty on a set: the fields it shares with ``set_type`` are the set's
    parameters, checked by the set (same errors) and kept as ``_set``."""

    set_type: ClassVar[type[sets.Set]]
    _set: sets.Set

    def __post_init__(self) -> None:
        super().__post_init__()
        own = {field.name for field in dataclasses.fields(self)}
        shared = own & {field.name for field in dataclasses.fields(self.set_type)}  # type: ignore[arg-type]
        checked = self.set_type(**{name: getattr(self, name) for name in shared})
        self._normalize(_set=checked, **{name: getattr(checked, name) for name in shared})

    def _layout(self, x: Any) -> Any:
        """The set's layout resolved against ``x``; errors name the penalty."""
        return resolve_layout(self, self._set, x)

    def _distances(self, x: Any) -> Any:
        """The set's closed-form per-group distances of ``x``."""
        return self._set._distance(x, self._layout(x))


@registry.register
@legacy_init(("constraint", "strength", "power"))
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class DistancePenalty(Penalty):
    r"""``strength * sum_groups dist(w_g, C_g) ** power`` for any constraint.

    $$
    R(w) = \lambda \sum_g \|w_g - P_C(w)_g\|_2^p
    $$

    The distance is measured to the constraint's own projection, held fixed
    with ``stop_gradient``, so for ``power=2`` the gradient is
    ``2 * strength * (w - P(w))``: it points straight at the nearest feasible
    point. Groups are the constraint's groups; a constraint from outside this
    package counts the whole tensor as one group.

    Args:
        constraint: A constraint instance, a registered name of this
            package (``"sum_to"``) or a serialized config.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default, squared distance) or ``1`` (distance; its
            gradient is 0 on feasible weights, never NaN).

    Example:

        >>> from keras_kernel_constraints.constraints import SumTo
        >>> reg = DistancePenalty(SumTo(1.0), strength=0.1)
        >>> layer = keras.layers.Dense(4, kernel_regularizer=reg)
    """

    constraint: Any = None
    _: KW_ONLY
    strength: float = 0.01
    power: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self._normalize(constraint=_constraint(self.constraint))

    def violation(self, x: Any) -> Any:
        shape = tuple(x.shape)
        if isinstance(self.constraint, sets.Set):
            dtype = keras.backend.standardize_dtype(x.dtype)
            resolved = self.constraint.resolve(shape, dtype, type(self.constraint).__name__)
            axes = resolved.axes
            if isinstance(self.constraint.layout, sets.Matrices):  # a group is a whole matrix
                axes = tuple(a for a in range(len(shape)) if a not in resolved.batch_axes)
        else:
            axes = tuple(range(len(shape)))
        project = self.constraint if callable(self.constraint) else self.constraint.project
        diff = x - ops.stop_gradient(ops.cast(project(x), x.dtype))
        if not axes:
            return ops.sum(self._to_power(ops.abs(diff)))
        squared = ops.sum(ops.square(diff), axis=axes, keepdims=True)
        if self.power == 2:
            return ops.sum(squared)
        return ops.sum(_safe_sqrt(squared))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "constraint": keras.saving.serialize_keras_object(self.constraint),
        }

    def __repr__(self) -> str:
        return (
            f"DistancePenalty({_shown(self.constraint)}, strength={self.strength!r}, "
            f"power={self.power!r})"
        )


def _shown(constraint: Any) -> str:
    """``repr`` of a constraint; Keras's own, which have none, from their config."""
    if type(constraint).__repr__ is not object.__repr__ or not hasattr(constraint, "get_config"):
        return repr(constraint)
    args = ", ".join(f"{k}={v!r}" for k, v in constraint.get_config().items())
    return f"{type(constraint).__name__}({args})"


def _constraint(identifier: Any) -> Any:
    """A constraint from an instance, a registered name or a serialized config."""
    if identifier is None:
        raise ValueError("`constraint` must be a constraint, a name or a config; got None.")
    if isinstance(identifier, str):
        cls = registry.registered(identifier)
        if cls is None:
            raise ValueError(f"`constraint`: unknown constraint name {identifier!r}.")
        return cls()
    if isinstance(identifier, dict):
        return keras.constraints.get(identifier)
    if isinstance(identifier, type):
        return identifier()
    if not callable(identifier) and not isinstance(identifier, sets.Set):
        raise ValueError(f"`constraint` must be callable; got {identifier!r}.")
    return identifier


def _safe_sqrt(x: Any) -> Any:
    """``sqrt(x)`` whose gradient at 0 is 0 instead of inf * 0 = NaN."""
    positive = x > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)
