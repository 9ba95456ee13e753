"""``Parametrized``: a layer wrapper whose weights are maps of free variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from keras_kernel_constraints import inspection
from keras_kernel_constraints._core import variables as variables_
from keras_kernel_constraints._core import versions
from keras_kernel_constraints.parametrizations._base import Parametrization, register

MINIMUM_KERAS = (3, 4)
"""The oldest Keras the wrapper works with: 3.4 added ``Layer.path`` and
``clone_model(recursive=True)``, which it and ``training.parametrize`` use."""


def check_keras(owner: str, obj: Any, kind: str) -> None:
    """Raise ``ValueError`` naming ``owner`` if ``obj`` (a ``kind``: layer, model)
    comes from tf_keras, or if this Keras is older than ``MINIMUM_KERAS``."""
    if variables_.is_tf_keras(obj):
        raise ValueError(
            f"{owner} needs a Keras 3 {kind}; got a tf_keras (Keras 2) {kind}. "
            "Parametrizations need Keras 3 (its stateless scopes); with tf_keras, use "
            "the constraints (training.attach)."
        )
    versions.require_keras(
        owner,
        MINIMUM_KERAS,
        "Layer.path, clone_model(recursive=True)",
        ", or use the constraints, which work from Keras 3.0.1",
    )


@register
class Parametrized(keras.layers.Wrapper):
    r"""A layer whose named weights are $f(v)$ for free trainable variables $v$.

    $$
    \text{layer}(x;\ w_1 = f_1(v_1), \ldots) \qquad \text{trainable: } v_1, \ldots
    $$

    In every call the wrapper computes each map's ``forward`` of its free
    variable and runs the inner layer with those values in place of its own
    weights (a stateless scope, Keras's mechanism behind ``stateless_call``),
    so the gradient reaches $v$ through $f$ and works for any layer: Dense,
    EinsumDense, ConvND, ConvNDTranspose, DepthwiseConvND, SeparableConvND
    (``depthwise_kernel`` and ``pointwise_kernel``), Embedding
    (``embeddings``) and a custom layer's ``add_weight`` variables by name.

    When built, the wrapper checks every name against the inner layer's
    weights and every map against the weight's shape and dtype (a
    ``ValueError`` naming the layer, the weight and the map, before any
    training), then creates one free variable per map, ``free_<name>``,
    initialised to ``right_inverse`` of the inner weight: a parametrized
    layer starts where the plain layer would, as far as the set allows (a
    weight outside the set starts at its projection). The inner weight
    becomes non-trainable and is overwritten with $f(v)$ whenever the model
    is saved, so a saved file holds both the free variable and the weight it
    gives. Saving, loading (no ``custom_objects``), ``export()``,
    ``jit_compile=True``, mixed precision (maps run in float32) and
    distribution strategies work as for any Keras layer. Needs Keras >= 3.4.

    A penalty the inner layer has on a parametrized weight
    (``kernel_regularizer=``) applies to $f(v)$, the weight the layer uses,
    not to $v$. A constraint on it is refused: the map already keeps the
    weight in its set.

    Args:
        layer: A Keras 3 layer (built or not).
        parametrizations: A dict from weight name (``"kernel"``, or the path
            of a sublayer's weight such as ``"dense/kernel"``) to a map of
            ``keras_kernel_constraints.parametrizations`` (or its config).
        **kwargs: Layer arguments (``name``, ...).

    Example:

        >>> from keras_kernel_constraints.parametrizations import SumTo
        >>> conv = keras.layers.Conv2D(4, 3)
        >>> layer = Parametrized(conv, {"kernel": SumTo(1.0)})
        >>> y = layer(np.ones((1, 5, 5, 2)))
        >>> kernel = keras.ops.convert_to_numpy(layer.effective_weight("kernel"))
        >>> np.allclose(np.sum(kernel, axis=(0, 1, 2)), 1.0)
        True
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        parametrizations: Mapping[str, Parametrization | dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        check_keras("Parametrized", layer, "layer")
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"Parametrized wraps a Keras 3 layer; got {layer!r}.")
        # Maps run in the variables' dtype; the inner layer casts their
        # values to its compute dtype as it reads them.
        kwargs.setdefault("autocast", False)
        super().__init__(layer, **kwargs)
        if not isinstance(parametrizations, Mapping) or not parametrizations:
            raise ValueError(
                f"Parametrized({layer.name!r}): `parametrizations` must be a non-empty dict "
                f"from weight name to map; got {parametrizations!r}."
            )
        maps = {}
        for name, given in parametrizations.items():
            found = (
                keras.saving.deserialize_keras_object(given) if isinstance(given, dict) else given
            )
            if not isinstance(name, str) or not isinstance(found, Parametrization):
                raise ValueError(
                    f"Parametrized({layer.name!r}): `parametrizations` maps weight names to "
                    f"maps of keras_kernel_constraints.parametrizations; got {name!r}: {given!r}."
                )
            maps[name] = found
        self.parametrizations = maps
        self._free: dict[str, Any] = {}
        self._maps: dict[str, Parametrization] = {}
        # The inner weights are the inner layer's: held outside Keras's
        # tracking, which would make them this layer's own too (saved twice,
        # and made trainable again by `trainable = True`).
        self._held = _Held()
        if layer.built:
            self._parametrize()
            self.built = True

    def build(self, input_shape: Any = None) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        if not self._free:
            self._parametrize()
        self.built = True

    def _parametrize(self) -> None:
        """Check every map against its weight, then make the free variables."""
        plans = []
        for name, given in self.parametrizations.items():
            target = self._find(name, given)
            owner = f"Parametrized({self.layer.name!r}) weight {name!r} with {type(given).__name__}"
            try:
                resolved = inspection.resolve_units(given, self.layer, name)
                resolved.resolve(tuple(target.shape), target.dtype, owner)
            except ValueError as error:
                message = str(error)
                if not message.startswith(owner):
                    message = f"{owner}: {message}"
                raise ValueError(message) from None
            if target.constraint is not None:
                raise ValueError(
                    f"{owner}: the weight also has a constraint ({target.constraint!r}); a "
                    "parametrized weight is kept in its set by the map, so drop the constraint."
                )
            plans.append((name, target, resolved))
        for name, target, resolved in plans:
            self._held.targets[name] = target
            self._maps[name] = resolved
            penalty = target.regularizer
            target.regularizer = None
            trainable = target.trainable
            target.trainable = False
            free = self.add_weight(
                name=f"free_{name.replace('/', '_')}",
                shape=tuple(target.shape),
                dtype=target.dtype,
                initializer=_RightInverse(resolved, target),
                trainable=trainable,
            )
            # On the free variable, so Keras adds it once per step, like any
            # weight penalty, however often the layer is called.
            free.regularizer = None if penalty is None else _OnEffective(penalty, resolved)
            self._free[name] = free

    @property
    def trainable(self) -> bool:
        return bool(self._trainable)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        keras.layers.Wrapper.trainable.fset(self, value)
        # The inner layer's setter made its weights trainable again.
        for target in getattr(self, "_held", _Held()).targets.values():
            target.trainable = False

    def _find(self, name: str, given: Parametrization) -> Any:
        own = [v for v in variables_.own_variables(self.layer) if v.name == name]
        found = own or [v for v in self.layer.weights if v.path.endswith("/" + name)]
        if len(found) == 1:
            return found[0]
        names = sorted(
            {v.name for v in variables_.own_variables(self.layer)}
            | {v.path.removeprefix(self.layer.path + "/") for v in self.layer.weights}
        )
        problem = "matches several weights" if found else "has no such weight"
        raise ValueError(
            f"Parametrized({self.layer.name!r}) weight {name!r} with {type(given).__name__}: "
            f"the {type(self.layer).__name__} {problem}; its weights are {names}."
        )

    @property
    def parametrized_weights(self) -> dict[str, Any]:
        """The inner layer's variables that the maps replace, by name (empty until built)."""
        return dict(self._held.targets)

    def reset_free_variables(self) -> None:
        """Set every free variable to ``right_inverse`` of its inner weight's value.

        For weights written into the inner layer after building (``set_weights``
        on ``layer.layer``): the next call then uses them, as far as the set allows.
        """
        for name, target in self._held.targets.items():
            self._free[name].assign(self._maps[name].right_inverse(target.value))

    def effective_weight(self, name: str) -> Any:
        """The weight the inner layer uses: the map's ``forward`` of the free variable."""
        if name not in self._free:
            raise ValueError(
                f"Parametrized({self.layer.name!r}) has no parametrized weight {name!r}"
                + (f"; it has {sorted(self._free)}." if self._free else " (not built yet).")
            )
        return self._maps[name].forward(self._free[name].value)

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        effective = {name: self.effective_weight(name) for name in self._free}
        values = {id(self._held.targets[name]): w for name, w in effective.items()}
        mapping = [(v, values.get(id(v), v.value)) for v in self.layer.variables]
        # The inner layer's own losses (add_loss, activity penalties) are
        # collected here and added again outside, where Keras looks for them.
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
            outputs = self.layer(inputs, *args, **kwargs)
        for loss in scope.losses:
            self.add_loss(loss)
        for variable, given in mapping:
            if id(variable) in values or variable.trainable:
                continue
            new = scope.get_current_value(variable)
            if new is not None and new is not given:
                variable.assign(new)
        return outputs

    def compute_output_shape(self, input_shape: Any, *args: Any, **kwargs: Any) -> Any:
        return self.layer.compute_output_shape(input_shape, *args, **kwargs)

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.layer.compute_output_spec(inputs, *args, **kwargs)

    def save_own_variables(self, store: Any) -> None:
        # The inner weights are saved after this: make them the weights in use.
        for name, target in self._held.targets.items():
            target.assign(self.effective_weight(name))
        super().save_own_variables(store)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["parametrizations"] = {
            name: keras.saving.serialize_keras_object(m)
            for name, m in self.parametrizations.items()
        }
        return config


class _Held:
    """Plain attributes, which Keras's automatic tracking leaves alone."""

    def __init__(self) -> None:
        self.targets: dict[str, Any] = {}


class _OnEffective:
    """A weight penalty applied to the map's ``forward`` of the free variable."""

    def __init__(self, penalty: Any, parametrization: Parametrization) -> None:
        self.penalty = penalty
        self.parametrization = parametrization

    def __call__(self, free: Any) -> Any:
        return self.penalty(self.parametrization.forward(free))


class _RightInverse(keras.initializers.Initializer):
    """Initializer of a free variable: ``right_inverse`` of the weight it replaces."""

    def __init__(self, parametrization: Parametrization, target: Any) -> None:
        self.parametrization = parametrization
        self.target = target

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        # A copy: a map whose right_inverse is the identity would otherwise
        # hand the weight's own buffer to a second variable (JAX then donates
        # it twice, PyTorch shares one Parameter).
        return keras.ops.copy(self.parametrization.right_inverse(self.target.value))

    def get_config(self) -> dict[str, Any]:
        return {}
