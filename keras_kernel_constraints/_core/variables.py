"""One way to read and change a layer's variables, whether Keras 3 made them or tf_keras.

Keras 3 variables (``keras.Variable``) have a ``path`` ("conv/kernel"), a
short ``name`` ("kernel"), a ``value`` and settable ``constraint`` and
``regularizer``. tf_keras (Keras 2, ``TF_USE_LEGACY_KERAS=1``) layers hold
``tf.Variable``\\ s: ``name`` is the full scope ("conv/kernel:0"), the
constraint is fixed when the variable is made, and a penalty lives on the
layer as a loss callable. The helpers above (``attach``, ``project_now``,
``constraint_summary``) go through these functions only.
"""

from __future__ import annotations

import functools
from typing import Any

import keras


def is_keras3(variable: Any) -> bool:
    """Whether ``variable`` is a Keras 3 variable (else a ``tf.Variable`` of tf_keras)."""
    return isinstance(variable, keras.Variable)


def is_tf_keras(obj: Any) -> bool:
    """Whether ``obj`` (a layer, model, optimizer or class) comes from tf_keras."""
    klass = obj if isinstance(obj, type) else type(obj)
    return any(base.__module__.startswith("tf_keras.") for base in klass.__mro__)


def path(variable: Any) -> str:
    """``"conv/kernel"``: the layer path and the variable's name."""
    if is_keras3(variable):
        return str(variable.path)
    return str(variable.name).removesuffix(":0")


def short_name(variable: Any) -> str:
    """``"kernel"``: the name the layer gave the variable."""
    if is_keras3(variable):
        return str(variable.name)
    return path(variable).rsplit("/", 1)[-1]


def value(variable: Any) -> Any:
    """The variable's current value, as a tensor."""
    if is_keras3(variable):
        return variable.value
    return keras.ops.convert_to_tensor(variable)


def constraint(variable: Any) -> Any:
    return getattr(variable, "constraint", None)


def set_constraint(variable: Any, new: Any) -> None:
    """Make the optimizer apply ``new`` after each step on ``variable``."""
    if is_keras3(variable):
        variable.constraint = new
        return
    # A tf.Variable's `constraint` is read-only, set at creation; tf_keras's
    # optimizer reads that property, which returns `_constraint`. A
    # mixed-precision AutoCastVariable forwards it to the variable it wraps, a
    # tf.distribute variable to its first component.
    inner = getattr(variable, "_variable", variable)
    for component in getattr(inner, "values", (inner,)):
        component._constraint = new
    if variable.constraint is not new:  # a variable type not handled above
        raise ValueError(
            f"cannot set the constraint of {path(variable)!r} (a {type(variable).__name__}) "
            "in this tf_keras; pass it to the layer (kernel_constraint=) instead."
        )


def regularizer(layer: Any, variable: Any) -> Any:
    """The penalty on ``variable``: on the variable (Keras 3) or the layer attribute (tf_keras)."""
    if is_keras3(variable):
        return variable.regularizer
    attribute = layer_attribute(layer, short_name(variable), "regularizer")
    return None if attribute is None else getattr(layer, attribute)


def set_regularizer(layer: Any, variable: Any, new: Any) -> None:
    """Add ``new(variable)`` to ``layer``'s losses (replacing any Keras 3 penalty on it)."""
    if is_keras3(variable):
        variable.regularizer = new
        return
    layer.add_loss(functools.partial(new, variable))


def layer_attribute(layer: Any, weight_name: str, kind: str) -> str | None:
    """The layer attribute Keras serializes for ``weight_name``'s ``kind``, if any.

    ``kernel`` -> ``kernel_constraint``; SeparableConv's ``depthwise_kernel``
    -> ``depthwise_constraint``; DepthwiseConv's ``kernel`` ->
    ``depthwise_constraint``.
    """
    candidates = [f"{weight_name}_{kind}", f"{weight_name.removesuffix('_kernel')}_{kind}"]
    if weight_name == "kernel" and type(layer).__name__.startswith("Depthwise"):
        candidates.insert(0, f"depthwise_{kind}")
    return next((name for name in candidates if hasattr(layer, name)), None)


def own_variables(layer: Any) -> list[Any]:
    """Variables created by ``layer`` itself, not by its sublayers."""
    inner = {
        id(variable)
        for sublayer in layer._flatten_layers(include_self=False, recursive=False)
        for variable in sublayer.weights
    }
    return [variable for variable in layer.weights if id(variable) not in inner]


def name_of(weight: Any) -> str | None:
    """The path of ``weight`` if it is a variable (Keras 3 or tf_keras), else None."""
    if is_keras3(weight) or hasattr(weight, "assign"):
        return path(weight)
    return None
