"""Helpers that keep constraints holding in real training setups, and model rewrites.

Keras applies a variable's constraint after every optimizer step. Some
optimizer features write to the variables *after* that, or average values
taken *before* it; the helpers here close those gaps. ``attach`` adds
constraints and penalties to a built model; ``parametrize`` returns a copy
of a model with parametrized weights, and ``bake`` a plain copy of a
parametrized one, for serving.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras

from keras_kernel_constraints import constraints, inspection, parametrizations, regularizers
from keras_kernel_constraints._core import registry
from keras_kernel_constraints._core import variables as variables_
from keras_kernel_constraints.constraints._base import check_projection
from keras_kernel_constraints.parametrizations._wrapper import check_keras

__all__ = [
    "ConstraintViolation",
    "ProjectedEMA",
    "Rule",
    "attach",
    "bake",
    "keep_ema_feasible",
    "parametrize",
    "project_now",
]


def project_now(variables: keras.layers.Layer | Iterable[Any]) -> list[Any]:
    """Apply each variable's constraint to its current value, in place.

    Keras applies constraints only inside an optimizer step; an ``assign``, a
    weight load or an EMA swap bypasses them. Call this to make the weights
    feasible at once.

    Args:
        variables: A model or layer (its trainable weights are used) or an
            iterable of variables. Variables without a constraint are skipped.

    Returns:
        The list of variables that were projected.

    Example:

        >>> from keras_kernel_constraints.constraints import NonNeg
        >>> layer = keras.layers.Dense(2, kernel_constraint=NonNeg())
        >>> layer.build((None, 3))
        >>> _ = layer.kernel.assign(-np.ones((3, 2)))  # bypasses the constraint
        >>> [v.name for v in project_now(layer)]
        ['kernel']
        >>> float(layer.kernel.numpy().min())
        0.0
    """
    if isinstance(variables, keras.layers.Layer) or variables_.is_tf_keras(variables):
        variables = variables.trainable_weights  # type: ignore[union-attr]
    projected = []
    for variable in variables:
        constraint = variables_.constraint(variable)
        if constraint is not None:
            variable.assign(_projection(constraint, variable))
            projected.append(variable)
    return projected


def _projection(constraint: Any, variable: Any) -> Any:
    """``constraint`` applied to ``variable``'s value, checked before it is assigned."""
    path = variables_.path(variable)
    wrong = inspection.misuse("constraint", constraint, variable)
    if wrong:
        raise ValueError(f"{path}: {wrong}")
    value = _compiled(constraint)(variables_.value(variable))
    dtype = keras.backend.standardize_dtype(variable.dtype)
    check_projection(constraint, value, tuple(variable.shape), dtype, path)
    return value


def _compiled(constraint: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``constraint`` as one compiled program on JAX, as it is.

    Outside a compiled step, JAX runs each operation as its own program,
    compiled for every new shape: a projection of a few dozen operations
    took seconds on its first call (15 s for two Monotone kernels before
    0.2.0). One ``jax.jit`` per constraint compiles it once per shape; inside
    a traced step (``fit``, ``keep_ema_feasible``) it is simply inlined.
    TensorFlow and PyTorch run eager operations without compiling them.
    """
    if keras.backend.backend() != "jax":
        return constraint
    import jax

    try:
        program = _JAX_PROGRAMS.get(constraint)
    except TypeError:  # an unhashable user constraint: run it operation by operation
        return constraint
    if program is None:
        # The program refers to its key weakly, so the cache never keeps a
        # constraint alive.
        owner = weakref.ref(constraint)

        def project(value: Any) -> Any:
            alive = owner()
            assert alive is not None  # the cache entry goes with its constraint
            return alive(value)

        program = _JAX_PROGRAMS[constraint] = jax.jit(project)
    return program


_JAX_PROGRAMS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _EpochCallback(keras.callbacks.Callback):
    """A Keras callback without batch hooks, which tf_keras's ``fit`` takes too.

    tf_keras asks each callback which batch hooks it implements, through
    methods a Keras 3 callback lacks.
    """

    def _implements_train_batch_hooks(self) -> bool:
        return False

    def _implements_test_batch_hooks(self) -> bool:
        return False

    def _implements_predict_batch_hooks(self) -> bool:
        return False


def keep_ema_feasible(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """Make an optimizer's weight EMA (``use_ema=True``) respect constraints.

    Keras updates the moving average of each weight *before* it applies the
    constraints, and at the end of ``fit`` (and every
    ``ema_overwrite_frequency`` steps) writes that average into the model: a
    box-constrained kernel can end ``fit`` far outside its box. After this
    call the optimizer

    1. projects constrained weights before averaging them, so the average is
       the average of feasible points (inside the set when the set is convex:
       boxes, simplices, balls);
    2. projects the weights again right after it writes the average into
       them, which also covers non-convex sets (a sphere, a norm band), whose
       averages fall inside.

    The optimizer instance is patched in place (``LossScaleOptimizer`` is
    unwrapped); calling it twice is harmless. Do it before the first training
    step, or use ``ProjectedEMA``, which does it for ``fit``.

    Args:
        optimizer: A Keras optimizer, possibly a ``LossScaleOptimizer``.

    Returns:
        The (inner) optimizer that was patched.

    Example:

        >>> from keras_kernel_constraints.constraints import Box
        >>> optimizer = keras.optimizers.Adam(0.1, use_ema=True)
        >>> keep_ema_feasible(optimizer) is optimizer
        True
        >>> model = keras.Sequential([keras.Input((3,)),
        ...                           keras.layers.Dense(2, kernel_constraint=Box(0.0, 0.1))])
        >>> model.compile(optimizer, "mse")
        >>> history = model.fit(np.ones((8, 3)), 5 * np.ones((8, 2)), epochs=2, verbose=0)
        >>> bool(model.layers[0].kernel.numpy().max() <= 0.1)  # the EMA written back is feasible
        True
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if getattr(inner, "_kkc_ema_feasible", False):
        return inner
    hooks = (
        "_update_model_variables_moving_average",
        "_overwrite_model_variables_with_average_value",
    )
    missing = [name for name in hooks if not hasattr(inner, name)]
    if missing:  # these are Keras internals (checked on Keras 3.15)
        raise RuntimeError(
            f"keep_ema_feasible: this Keras ({keras.__version__}) optimizer has no "
            f"{missing}; the EMA fix needs updating for it."
        )
    update = inner._update_model_variables_moving_average
    overwrite = inner._overwrite_model_variables_with_average_value

    @functools.wraps(update)
    def update_from_projected(trainable_variables: list[Any]) -> Any:
        project_now(trainable_variables)
        return update(trainable_variables)

    @functools.wraps(overwrite)
    def overwrite_then_project(trainable_variables: list[Any]) -> Any:
        result = overwrite(trainable_variables)
        _own_buffers(trainable_variables)
        project_now(trainable_variables)
        return result

    inner._update_model_variables_moving_average = update_from_projected
    inner._overwrite_model_variables_with_average_value = overwrite_then_project
    inner._kkc_ema_feasible = True
    return inner


class ProjectedEMA(_EpochCallback):
    """Callback for ``fit``: keeps constrained weights feasible under ``use_ema=True``.

    At the start of training it applies ``keep_ema_feasible`` to the
    model's optimizer and rebuilds the train function so that the compiled
    step uses it. Without it, Keras 3 ends ``fit`` with the moving average of
    *unprojected* weights: a ``Box(0, 0.1)`` kernel has been seen to end with
    values in ``[-5.2, 7.9]``. On JAX it also lets a ``fit`` follow one that
    used the EMA, which Keras 3.15 alone fails ("donate the same buffer
    twice").

    Example:

        >>> from keras_kernel_constraints.constraints import Box
        >>> model = keras.Sequential([keras.Input((3,)),
        ...                           keras.layers.Dense(2, kernel_constraint=Box(0.0, 0.1))])
        >>> model.compile(keras.optimizers.Adam(use_ema=True), "mse")
        >>> history = model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0,
        ...                     callbacks=[ProjectedEMA()])
        >>> bool(0.0 <= model.layers[0].kernel.numpy().min())
        True
    """

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if not getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False):
            return
        keep_ema_feasible(optimizer)
        # A previous fit may have ended with Keras's own overwrite.
        _own_buffers(self.model.trainable_variables)
        # The step may already be traced (a previous fit); trace it again.
        self.model.make_train_function(force=True)


def _own_buffers(variables: Iterable[Any]) -> None:
    """On JAX, give each variable a buffer of its own.

    Keras 3.15 ends a ``use_ema`` fit on JAX by assigning each average to its
    weight, which then share one buffer; the next ``fit`` donates both to the
    compiled step and fails ("Attempt to donate the same buffer twice"), with
    or without this package. A copy per variable avoids it. Elsewhere
    ``assign`` copies already.
    """
    if keras.backend.backend() != "jax":
        return
    for variable in variables:
        variable.assign(keras.ops.copy(variable.value))


@dataclasses.dataclass(frozen=True)
class Rule:
    """Which weights of a model get which constraint, regularizer or parametrization.

    Args:
        layers: A layer name, a layer class (instances of it and its
            subclasses match) or a predicate ``layer -> bool``. Nested layers
            are searched too.
        weights: The variable name or names inside each matched layer:
            ``"kernel"``, ``"bias"``, ``"embeddings"``, or any ``add_weight``
            name. Default ``"kernel"``.
        constraint: A constraint (instance, name or config), or ``None``.
        regularizer: A regularizer (instance, name or config), or ``None``.
        parametrization: A map of ``keras_kernel_constraints.parametrizations``
            (instance or config), or ``None``; for ``parametrize`` only,
            which takes no constraint (a regularizer then applies to the
            parametrized weight).

    Example:

        >>> from keras_kernel_constraints.constraints import NonNeg
        >>> rule = Rule(keras.layers.Dense, "kernel", constraint=NonNeg())
        >>> rule.matches(keras.layers.Dense(2)), rule.matches(keras.layers.Conv1D(2, 3))
        (True, False)
    """

    layers: str | type | Callable
    weights: str | Sequence[str] = "kernel"
    constraint: object = None
    regularizer: object = None
    parametrization: object = None

    def __post_init__(self) -> None:
        if not isinstance(self.layers, (str, type)) and not callable(self.layers):
            raise ValueError(
                f"`layers` must be a layer name, a layer class or a predicate; got {self.layers!r}."
            )
        names = (self.weights,) if isinstance(self.weights, str) else tuple(self.weights)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(
                f"`weights` must be a variable name or a sequence of them; got {self.weights!r}."
            )
        object.__setattr__(self, "weights", names)
        object.__setattr__(self, "constraint", constraints.get(self.constraint))
        object.__setattr__(self, "regularizer", regularizers.get(self.regularizer))
        given = self.parametrization
        if isinstance(given, dict):
            given = keras.saving.deserialize_keras_object(given)
        if given is not None and not isinstance(given, parametrizations.Parametrization):
            raise ValueError(
                "`parametrization` must be a map of keras_kernel_constraints.parametrizations "
                f"(or its config); got {self.parametrization!r}."
            )
        object.__setattr__(self, "parametrization", given)
        if given is not None and self.constraint is not None:
            raise ValueError(
                "A rule takes a `parametrization` or a `constraint`, not both: the map "
                "already keeps the weight in its set."
            )
        if self.constraint is None and self.regularizer is None and given is None:
            raise ValueError(
                "A rule needs a `constraint`, a `regularizer` (or both), or a `parametrization`."
            )

    def matches(self, layer: keras.layers.Layer) -> bool:
        if isinstance(self.layers, str):
            return layer.name == self.layers
        if isinstance(self.layers, type):
            return isinstance(layer, self.layers)
        return bool(self.layers(layer))


def attach(
    model: keras.layers.Layer,
    rules: Rule | dict[str, Any] | Sequence[Rule | dict[str, Any]],
    *,
    project: bool = True,
) -> list[Any]:
    """Add constraints and regularizers to the weights of a built model.

    Setting ``layer.kernel_regularizer`` on a built layer does nothing in
    Keras: the variable already exists and the penalty is never collected
    (likewise for constraints). ``attach`` sets them where Keras reads them,
    on the variables (``variable.constraint``, ``variable.regularizer``), and
    mirrors them on the layer's ``*_constraint`` / ``*_regularizer``
    attributes when it has them, so ``get_config`` and saving include them.
    A compiled model's train function is reset, so the next ``fit`` traces a
    step that applies them.

    Args:
        model: A built ``keras.Model`` (or layer).
        rules: A ``Rule``, a dict of ``Rule`` arguments, or a list of
            either. Later rules override earlier ones on the same weight.

    Returns:
        The list of variables that were changed, in rule order.

        project: Project every newly constrained weight at once (default),
            so the model is feasible from here on, not only after the next
            optimizer step. ``False`` leaves the values as they are.

    ``axis="units"`` on a grouped set or penalty (``SumTo(1.0,
    axis="units")``) is resolved here, per matched layer, into one group per
    output unit (``inspection.unit_axis``): right for Dense, Conv*,
    Conv*Transpose, DepthwiseConv*, SeparableConv*, EinsumDense and
    Embedding alike.

    Raises:
        ValueError: if the model is not built; if a rule matches no weight
            (naming the matched layers' weights and close names); or if a
            rule cannot work on a weight it matches: a shape its layout does
            not fit, an integer weight, a penalty given as a constraint or a
            constraint as a regularizer, a user constraint that returns
            another shape or dtype. Every rule is checked against every
            weight before anything is changed.

    Example:

        >>> from keras_kernel_constraints.constraints import NonNeg
        >>> from keras_kernel_constraints.regularizers import NonNegPenalty
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")])
        >>> changed = attach(model, Rule("head", "kernel", NonNeg(), NonNegPenalty(strength=0.1)))
        >>> [v.name for v in changed], len(model.losses)
        (['kernel'], 1)
    """
    given = [rules] if isinstance(rules, (Rule, dict)) else list(rules)
    checked = [rule if isinstance(rule, Rule) else Rule(**rule) for rule in given]
    if not model.built:
        raise ValueError("attach() needs a built model: call it on data or build() it first.")
    for index, rule in enumerate(checked):
        if rule.parametrization is not None:
            raise ValueError(
                f"Rule {index} has a parametrization, which changes the layer itself: use "
                "training.parametrize(model, rules), which returns a new model."
            )
    layers = list(model._flatten_layers(include_self=True))
    plans = []  # (layer, variable, constraint, regularizer, projected value)
    for index, rule in enumerate(checked):
        matched = [layer for layer in layers if rule.matches(layer)]
        hits = [
            (layer, variable)
            for layer in matched
            for variable in variables_.own_variables(layer)
            if variables_.short_name(variable) in rule.weights
        ]
        if not hits:
            raise ValueError(_no_match(index, rule, layers, matched))
        for layer, variable in hits:
            plans.append(_plan(index, rule, layer, variable))
    # A later rule on the same weight wins; tf_keras could not undo the earlier penalty.
    last = {
        (id(plan[1]), role): position
        for position, plan in enumerate(plans)
        for role, obj in (("constraint", plan[2]), ("regularizer", plan[3]))
        if obj is not None
    }
    changed = []
    for position, (layer, variable, constraint, regularizer, value) in enumerate(plans):
        name = variables_.short_name(variable)
        if last.get((id(variable), "constraint")) != position:
            constraint = None
        if last.get((id(variable), "regularizer")) != position:
            regularizer = None
        if constraint is not None:
            variables_.set_constraint(variable, constraint)
            _mirror(layer, name, "constraint", constraint)
            if project:
                variable.assign(value)
        if regularizer is not None:
            variables_.set_regularizer(layer, variable, regularizer)
            _mirror(layer, name, "regularizer", regularizer)
        changed.append(variable)
    if getattr(model, "train_function", None) is not None:
        model.train_function = None  # the next fit traces a step with them
    return changed


def _plan(index: int, rule: Rule, layer: Any, variable: Any) -> tuple[Any, ...]:
    """Check one rule against one weight; what to set and the projected value."""
    where = f"Rule {index} on {variables_.path(variable)} (a {type(layer).__name__} weight)"
    name = variables_.short_name(variable)
    try:
        constraint, regularizer = (
            None if obj is None else inspection.resolve_units(obj, layer, name)
            for obj in (rule.constraint, rule.regularizer)
        )
        value = None
        if constraint is not None:
            value = _projection(constraint, variable)
        if regularizer is not None:
            wrong = inspection.misuse("regularizer", regularizer, variable)
            if wrong:
                raise ValueError(wrong)
            if not variables_.is_keras3(variable) and variables_.regularizer(layer, variable):
                raise ValueError(
                    "this weight has a penalty already, and tf_keras keeps it among the "
                    "layer's losses, where attach() cannot replace it; build the layer with "
                    "the penalty you want instead."
                )
            regularizer(variables_.value(variable))  # a shape its layout does not fit raises
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return layer, variable, constraint, regularizer, value


def _no_match(index: int, rule: Rule, layers: list[Any], matched: list[Any]) -> str:
    """Why a rule matched no weight, with what it could have meant."""
    head = f"Rule {index} ({rule.layers!r}, weights {list(rule.weights)}) matched no weight"
    if not matched:
        names = [layer.name for layer in layers]
        close = (
            difflib.get_close_matches(str(rule.layers), names, n=5)
            if isinstance(rule.layers, str)
            else []
        )
        hint = f"; close layer names: {close}" if close else ""
        return f"{head}: no layer of the {len(names)} matches{hint}."
    weights = sorted(
        {variables_.short_name(v) for layer in matched for v in variables_.own_variables(layer)}
    )
    close = sorted(
        {c for name in rule.weights for c in difflib.get_close_matches(name, weights, n=3)}
    )
    shown = [layer.name for layer in matched[:5]] + (["..."] if len(matched) > 5 else [])
    hint = f"; did you mean {close}?" if close else "."
    return f"{head}: {len(matched)} layer(s) match ({shown}), and their weights are {weights}{hint}"


def _mirror(layer: keras.layers.Layer, weight_name: str, kind: str, value: Any) -> None:
    """Set the layer attribute Keras serializes for this weight, if any."""
    attribute = variables_.layer_attribute(layer, weight_name, kind)
    if attribute is not None:
        setattr(layer, attribute, value)


def parametrize(
    model: keras.Model, rules: Rule | dict[str, Any] | Sequence[Rule | dict[str, Any]]
) -> keras.Model:
    """A copy of a built model whose matched weights are parametrized, keeping their values.

    Every layer that a rule with a ``parametrization`` matches is rebuilt as
    ``parametrizations.Parametrized(copy_of_layer, {weight: map})``; every
    other layer is copied. Each free variable is ``right_inverse`` of the
    weight's current value, so the new model computes what the old one did
    wherever the weights lie inside the sets (a weight outside starts at its
    projection). A constraint the layer had on a parametrized weight is
    dropped (the map keeps the weight in its set); a rule's ``regularizer``
    replaces the weight's penalty and applies to the parametrized weight.
    The copy is not compiled. The original model is left as it was.

    Works on Sequential and functional models, nested ones included
    (through ``keras.models.clone_model``); a subclassed model's layers
    cannot be replaced from outside: wrap them in its ``__init__``.

    Args:
        model: A built Sequential or functional model.
        rules: ``Rule``\\ s (or dicts of their arguments) with a
            ``parametrization``; a later rule wins on the same weight.

    Returns:
        The new model.

    Raises:
        ValueError: if the model is not built, a rule has no
            parametrization, or a rule matches no weight; and as
            ``Parametrized`` does for a map that does not fit its weight.

    Example:

        >>> from keras_kernel_constraints.parametrizations import SumTo
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")])
        >>> new = parametrize(model, Rule("head", parametrization=SumTo(1.0)))
        >>> type(new.get_layer("head")).__name__
        'Parametrized'
    """
    given = [rules] if isinstance(rules, (Rule, dict)) else list(rules)
    checked = [rule if isinstance(rule, Rule) else Rule(**rule) for rule in given]
    check_keras("parametrize()", model, "model")
    if not model.built:
        raise ValueError("parametrize() needs a built model: call it on data or build() it first.")
    for index, rule in enumerate(checked):
        if rule.parametrization is None:
            raise ValueError(
                f"Rule {index} has no `parametrization`; constraints and penalties alone "
                "are added in place by training.attach(model, rules)."
            )
    layers = list(model._flatten_layers(include_self=True))
    plans: dict[int, dict[str, Rule]] = {}
    for index, rule in enumerate(checked):
        matched = [layer for layer in layers if rule.matches(layer)]
        hits = [
            (layer, name)
            for layer in matched
            for name in sorted({variables_.short_name(v) for v in variables_.own_variables(layer)})
            if name in rule.weights
        ]
        if not hits:
            raise ValueError(_no_match(index, rule, layers, matched))
        for layer, name in hits:
            plans.setdefault(id(layer), {})[name] = rule
    copies: list[tuple[Any, Any]] = []

    def copy(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        chosen = plans.get(id(layer), {})
        for name, rule in chosen.items():
            for kind, value in (("constraint", None), ("regularizer", rule.regularizer)):
                attribute = variables_.layer_attribute(layer, name, kind)
                if attribute is not None and (kind == "constraint" or value is not None):
                    config[attribute] = value
        new = type(layer).from_config(config)
        if chosen:
            maps = {name: _map(rule) for name, rule in chosen.items()}
            new = parametrizations.Parametrized(new, maps, name=layer.name)
        copies.append((layer, new))
        return new

    result = keras.models.clone_model(model, clone_function=copy, recursive=True)
    copied = {id(old) for old, _ in copies}
    hidden = [layer for layer in layers if id(layer) in plans and id(layer) not in copied]
    if hidden:
        raise ValueError(
            f"parametrize() cannot replace {[layer.name for layer in hidden]}: they are "
            "inside a custom layer, which keras.models.clone_model copies whole. Wrap them "
            "in Parametrized in that layer's __init__ instead."
        )
    for old, new in copies:
        inner = new.layer if isinstance(new, parametrizations.Parametrized) else new
        inner.set_weights(old.get_weights())
        if inner is not new:
            new.reset_free_variables()
    return result


def _map(rule: Rule) -> parametrizations.Parametrization:
    assert isinstance(rule.parametrization, parametrizations.Parametrization)
    return rule.parametrization


def bake(model: keras.Model) -> keras.Model:
    """A plain copy of a model: every ``Parametrized`` layer replaced by its inner
    layer holding the weights in use, for serving without this package.

    The copy computes what the model computes (the same weights, the same
    layers), and its config names no class of this package: the
    constraints and penalties of this package are dropped from every layer
    as well (they act in training only), so ``keras.saving.load_model`` and
    ``model.export()`` serve it in a process that never imports
    ``keras_kernel_constraints``. The copy is not compiled. Sequential and
    functional models, nested ones included; a ``Parametrized`` layer
    inside a custom layer cannot be reached and raises ``ValueError``.

    Args:
        model: A built Sequential or functional model.

    Returns:
        The new model.

    Example:

        >>> from keras_kernel_constraints.parametrizations import Parametrized, Simplex
        >>> head = Parametrized(keras.layers.Dense(2), {"kernel": Simplex()}, name="head")
        >>> model = keras.Sequential([keras.Input((3,)), head])
        >>> plain = bake(model)
        >>> type(plain.get_layer("head")).__name__
        'Dense'
    """
    if not model.built:
        raise ValueError("bake() needs a built model: call it on data or build() it first.")
    copies: list[tuple[Any, Any]] = []

    def copy(layer: keras.layers.Layer) -> keras.layers.Layer:
        source = layer.layer if isinstance(layer, parametrizations.Parametrized) else layer
        config = _without_package_objects(source.get_config())
        if isinstance(layer, parametrizations.Parametrized):
            config["name"] = layer.name
        new = type(source).from_config(config)
        copies.append((layer, new))
        return new

    result = keras.models.clone_model(model, clone_function=copy, recursive=True)
    left = [
        layer.name
        for layer in result._flatten_layers(include_self=False)
        if isinstance(layer, parametrizations.Parametrized)
    ]
    if left:
        raise ValueError(
            f"bake() cannot replace the Parametrized layers {left}: they are inside a "
            "custom layer, which keras.models.clone_model copies whole. Give that layer a "
            "way to rebuild itself without them (e.g. write each effective_weight() into a "
            "plain layer) before serving without this package."
        )
    for old, new in copies:
        new.set_weights(_weights_in_use(old))
    return result


def _weights_in_use(layer: keras.layers.Layer) -> list[Any]:
    """The layer's weights as its calls use them (a ``Parametrized`` layer's inner ones)."""
    if not isinstance(layer, parametrizations.Parametrized):
        return list(layer.get_weights())
    effective = {id(target): name for name, target in layer.parametrized_weights.items()}
    return [
        keras.ops.convert_to_numpy(layer.effective_weight(effective[id(v)]))
        if id(v) in effective
        else keras.ops.convert_to_numpy(v.value)
        for v in layer.layer.weights
    ]


def _without_package_objects(config: Any) -> Any:
    """``config`` with every constraint or penalty of this package replaced by ``None``."""
    if isinstance(config, dict):
        if str(config.get("registered_name", "")).startswith(registry.PACKAGE):
            return None
        return {key: _without_package_objects(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_without_package_objects(value) for value in config]
    return config


class ConstraintViolation(_EpochCallback):
    """Logs how far each constrained weight is from its set, every epoch.

    For every trainable variable with a constraint it adds
    ``violation/<variable path>`` = ``||w - P(w)||`` (Euclidean, whole
    variable) to the epoch logs, plus ``violation/max``; the values appear in
    ``fit``'s ``History`` and in TensorBoard when this callback comes before
    ``keras.callbacks.TensorBoard`` in the list.

    For an ``Intersect`` it also adds ``residual/<variable path>``: the
    largest distance from the weight to any one of its sets, positive only
    where Dykstra's algorithm ran out of sweeps (``Intersect.residual``).

    With constraints applied by the optimizer the values are 0 after every
    epoch. A positive value means some write bypassed the projection: a
    weight whose gradient was ``None`` (on TensorFlow and PyTorch Keras then
    skips its constraint; JAX gives such a weight a zero gradient, and it is
    projected), an ``assign``, a weight EMA without ``ProjectedEMA``.

    Example:

        >>> from keras_kernel_constraints.constraints import NonNeg
        >>> model = keras.Sequential([keras.Input((3,)),
        ...                           keras.layers.Dense(2, kernel_constraint=NonNeg())])
        >>> model.compile("sgd", "mse")
        >>> history = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,
        ...                     callbacks=[ConstraintViolation()])
        >>> history.history["violation/max"]
        [0.0]
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        worst = 0.0
        for variable in self.model.trainable_variables:
            constraint = variables_.constraint(variable)
            if constraint is None:
                continue
            value = keras.ops.convert_to_numpy(variable).astype("float64")
            projected = keras.ops.convert_to_numpy(constraint(variable))
            distance = float(((value - projected) ** 2).sum() ** 0.5)
            logs[f"violation/{variables_.path(variable)}"] = distance
            worst = max(worst, distance)
            residual = getattr(constraint, "residual", None)
            if callable(residual):  # an intersection: how far from its farthest member
                value = float(keras.ops.convert_to_numpy(residual(variable)))
                logs[f"residual/{variables_.path(variable)}"] = value
        logs["violation/max"] = worst
