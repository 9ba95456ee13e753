"""Optimizers that step along the sets: ``Projected(optimizer)``.

A constraint projects a weight after each step, but the optimizer never
learns of it: Adam's first moment keeps accumulating the gradient's
component that points out of the set, so a weight pinned at a bound keeps
an outward momentum, and a weight on a sphere is pushed off and pulled back
every step. ``Projected`` wraps any Keras optimizer and, for every variable
whose constraint is one of this package's sets,

1. replaces the gradient by its tangent component at the current weight
   (``Set.tangent``: the tangent cone at a bound, the tangent space on a
   manifold) before the inner optimizer's update;
2. lets the inner optimizer step, after which the variable's constraint
   projects as always (the retraction);
3. moves the inner optimizer's first moment (momentum) to the tangent cone
   at the new weight: the first-order moment transport, by projection, of
   Riemannian Adam (Becigneul and Ganea, ICLR 2019), without transporting
   the second moment.

Variables without a constraint, or with a constraint that has no tangent
map, are stepped by the inner optimizer as they would be without the
wrapper (the plain projected gradient step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_kernel_constraints._core import registry
from keras_kernel_constraints.sets import Set

__all__ = ["Projected"]

# Where Keras's optimizers keep their first moments, one slot per variable
# (Adam, AdamW, Nadam, Lion and RMSprop's momentum: ``_momentums``; SGD:
# ``momentums``; Adamax: ``_m``).
_FIRST_MOMENTS = ("_momentums", "momentums", "_m")


@registry.register
class Projected(keras.optimizers.Optimizer):
    """Wraps ``inner_optimizer`` so that constrained variables step along their sets.

    Args:
        inner_optimizer: The ``keras.optimizers.Optimizer`` doing the steps
            (an instance, or a name or config that ``keras.optimizers.get``
            accepts).
        transport: Move the inner optimizer's first moment to the tangent
            cone at the new weight after every step (default True).
        name: The optimizer's name.

    Example:

        >>> from keras_kernel_constraints.constraints import UnitSphere
        >>> from keras_kernel_constraints.optimizers import Projected
        >>> model = keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(3, kernel_constraint=UnitSphere())]
        ... )
        >>> model.compile(Projected(keras.optimizers.Adam(1e-2)), "mse")
        >>> history = model.fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0)
        >>> norms = np.linalg.norm(keras.ops.convert_to_numpy(model.layers[0].kernel), axis=0)
        >>> bool(np.allclose(norms, 1.0, atol=1e-5))
        True
    """

    def __init__(
        self, inner_optimizer: Any, *, transport: bool = True, name: str | None = None
    ) -> None:
        if not isinstance(transport, bool):
            raise ValueError(f"Projected: `transport` must be True or False, got {transport!r}.")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = keras.optimizers.get(inner_optimizer)
        self.transport = transport

    def build(self, var_list: Sequence[Any]) -> None:
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self) -> list[Any]:
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> Any:
        inner = self.__dict__.get("inner_optimizer")
        return self._own_iterations if inner is None else inner.iterations

    @iterations.setter
    def iterations(self, value: Any) -> None:
        # Keras 3.0's Optimizer.__init__ assigns its own counter; the
        # wrapper's steps are the inner optimizer's.
        self._own_iterations = value

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        if not getattr(self, "built", False):
            if trainable_variables is None:
                raise ValueError(
                    "Projected: pass `trainable_variables` on the first call, or build the "
                    "optimizer first (`optimizer.build(variables)`)."
                )
            self.build(trainable_variables)
            self.built = True
        variables = (
            self._trainable_variables if trainable_variables is None else list(trainable_variables)
        )
        grads = _tangents_across_replicas(variables, _unscaled(grads, self.loss_scale_factor))
        self.inner_optimizer.apply(grads, trainable_variables)
        if self.transport:
            for variable in variables:
                moment = self._first_moment(variable)
                if moment is not None:
                    moment.assign(_tangent(variable, variable, moment))

    def stateless_apply(
        self, optimizer_variables: Sequence[Any], grads: Sequence[Any], trainable_variables: Any
    ) -> tuple[list[Any], list[Any]]:
        # JAX's path: the same three steps on values, through the inner
        # optimizer's own stateless_apply (a LossScaleOptimizer inside needs its own).
        own = len(self._variables)
        variables = self._trainable_variables
        grads = _unscaled(grads, self.loss_scale_factor)
        grads = [
            _tangent(v, w, g) for v, w, g in zip(variables, trainable_variables, grads, strict=True)
        ]
        new_weights, new_inner = self.inner_optimizer.stateless_apply(
            list(optimizer_variables[own:]), grads, trainable_variables
        )
        new_inner = list(new_inner)
        if self.transport:
            positions = {id(v): i for i, v in enumerate(self.inner_optimizer.variables)}
            for variable, weight in zip(variables, new_weights, strict=True):
                moment = self._first_moment(variable)
                if moment is not None:
                    i = positions[id(moment)]
                    new_inner[i] = _tangent(variable, weight, new_inner[i])
        # Values, not variables: a LossScaleOptimizer around this one passes
        # the variables themselves, read here through its stateless scope
        # (convert_to_tensor, not .value: Keras 3.0's cond traces the latter).
        unchanged = [_value(v) for v in optimizer_variables[:own]]
        return list(new_weights), unchanged + new_inner

    def _first_moment(self, variable: Any) -> Any:
        """The inner optimizer's first-moment slot of ``variable``, if it has one
        and the variable's constraint has a tangent map."""
        if not _has_tangent(variable):
            return None
        optimizer = self.inner_optimizer
        while optimizer is not None:  # through wrappers: LossScaleOptimizer(Adam)
            for attribute in _FIRST_MOMENTS:
                slots = getattr(optimizer, attribute, None)
                if slots:
                    return slots[optimizer._get_variable_index(variable)]
            optimizer = getattr(optimizer, "inner_optimizer", None)
        return None

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "transport": self.transport,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Projected:
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects
        )
        return cls(inner, **config)


def _tangents_across_replicas(variables: Sequence[Any], grads: list[Any]) -> list[Any]:
    """The tangent gradients of ``variables``, as the inner optimizer expects them.

    Under a TensorFlow ``tf.distribute`` strategy with several replicas, each
    replica holds its own part of the gradient and the inner optimizer sums
    them. A tangent cone's map is not linear (at a bound it keeps the sum's
    sign, not each part's), so the parts are summed here first, mapped, and
    each replica passes ``1 / replicas`` of the result: the inner sum gives
    the tangent of the total, exactly when the count is a power of 2.
    """
    mapped = [i for i, (v, g) in enumerate(zip(variables, grads, strict=True)) if _needs(v, g)]
    context = _replica_context()
    if not mapped or context is None or context.num_replicas_in_sync == 1:
        return [_tangent(v, v, g) for v, g in zip(variables, grads, strict=True)]
    totals = context.all_reduce("SUM", [grads[i] for i in mapped])
    share = 1.0 / context.num_replicas_in_sync
    for i, total in zip(mapped, totals, strict=True):
        grads[i] = _tangent(variables[i], variables[i], total) * share
    return grads


def _replica_context() -> Any:
    """TensorFlow's replica context inside a ``tf.distribute`` step, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.distribute.get_replica_context()


def _needs(variable: Any, g: Any) -> bool:
    return g is not None and _has_tangent(variable)


def _unscaled(grads: Sequence[Any], scale: Any) -> list[Any]:
    """``grads`` divided by a loss scale factor (set by a ``MultiOptimizer`` around
    the wrapper), before the tangent map; ``None`` leaves them as they are."""
    if scale is None:
        return list(grads)
    return [g if g is None else g / scale for g in grads]


def _value(variable: Any) -> Any:
    return keras.ops.convert_to_tensor(variable)


def _has_tangent(variable: Any) -> bool:
    constraint = getattr(variable, "constraint", None)
    return isinstance(constraint, Set) and constraint.has_tangent


def _tangent(variable: Any, weight: Any, g: Any) -> Any:
    """``g`` kept to the tangent cone of ``variable``'s set at ``weight``."""
    if g is None or not _has_tangent(variable):
        return g
    return variable.constraint.tangent(weight, g, owner=type(variable.constraint).__name__)
