"""Keras registration, name tables and ``get(identifier)``, as in ``keras.constraints.get``."""

from __future__ import annotations

import importlib.abc
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import keras

PACKAGE = "keras_kernel_constraints"

register = keras.saving.register_keras_serializable(package=PACKAGE)
"""Class decorator: registers as ``keras_kernel_constraints>ClassName`` (names never change)."""


def snake_case(name: str) -> str:
    """``SumToPenalty`` -> ``sum_to_penalty``; ``NonNeg`` -> ``non_neg``; ``PSD`` -> ``psd``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def name_table(classes: Iterable[type]) -> dict[str, type]:
    """Map class names and their snake_case aliases to the classes."""
    table = {}
    for cls in classes:
        table[cls.__name__] = cls
        table[snake_case(cls.__name__)] = cls
    return table


def resolve(
    identifier: Any, table: dict[str, type], kind: str, keras_get: Callable[[Any], Any]
) -> Any:
    """Resolve None, a name, a config dict, a class or an instance.

    Config dicts of classes outside ``table`` (Keras built-ins, users' own
    registered classes) are handed to Keras's own ``keras_get``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if identifier.get("class_name") not in table:
            return keras_get(identifier)
        obj = keras.saving.deserialize_keras_object(identifier, module_objects=table)
    elif isinstance(identifier, str):
        obj = table.get(identifier)
        if obj is None:
            raise ValueError(
                f"Unknown {kind} name {identifier!r}; known names: {', '.join(sorted(table))}."
            )
    else:
        obj = identifier
    if inspect.isclass(obj):
        required = [
            p.name
            for p in inspect.signature(obj).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise ValueError(
                f"{kind} {obj.__name__} has no default for {', '.join(required)}: pass an "
                f"instance ({obj.__name__}(...)) or its config, not {identifier!r}."
            )
        obj = obj()
    if not callable(obj):
        raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}.")
    return obj


def registered(name: str) -> Any:
    """The class registered by this package under ``name`` or its snake_case alias, or None.

    Lets a module resolve names of classes it does not import (the penalty
    ``DistancePenalty`` takes constraint names without importing
    ``constraints``, which sits above it).
    """
    camel = (
        name
        if "_" not in name and name[:1].isupper()
        else "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    )
    return keras.saving.get_registered_object(f"{PACKAGE}>{camel}")


def register_with_tf_keras() -> None:
    """Register this package's classes with tf_keras (Keras 2) too, now or on its import.

    tf_keras keeps its own registry: a model it saves names a constraint
    ``keras_kernel_constraints>SumTo`` only if the class is registered there,
    and ``tf_keras.models.load_model`` finds it only there. tf_keras is
    imported late (``tf.keras`` under ``TF_USE_LEGACY_KERAS=1`` loads it on
    first use), so when it is not imported yet a one-shot import hook
    registers the classes right after it is.
    """
    if "tf_keras" in sys.modules:
        _register_in(sys.modules["tf_keras"])
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("tf_keras", _register_in))


def _register_in(tf_keras: Any) -> None:
    prefix = f"{PACKAGE}>"
    for name, cls in keras.saving.get_custom_objects().items():
        if name.startswith(prefix):
            tf_keras.saving.register_keras_serializable(PACKAGE, name.removeprefix(prefix))(cls)
    # tf_keras warns on every save that our classes are not its own
    # Constraint/Regularizer subclasses; they serialize correctly (tested).
    warnings.filterwarnings(
        "ignore",
        message=r"The `keras\.(constraints|regularizers)\.serialize\(\)` API should only be used"
        rf".*<class '{PACKAGE}\.",
        category=UserWarning,
    )


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback(module)`` once, right after the module ``name`` is first executed.

    Probes that only look for the module (``importlib.util.find_spec``)
    leave the hook in place: it goes when the module has run.
    """

    def __init__(self, name: str, callback: Callable[[Any], None]) -> None:
        self.name = name
        self.callback = callback
        self.searching = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.searching:
            return None
        self.searching = True  # the search below asks this finder again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.searching = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_then_call(module: Any) -> None:
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            self.callback(module)

        loader.exec_module = exec_then_call
        return spec
