"""Keras registration, name tables and ``get(identifier)``, as in ``keras.constraints.get``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

import keras

PACKAGE = "keras_kernel_constraints"

register = keras.saving.register_keras_serializable(package=PACKAGE)
"""Class decorator: registers as ``keras_kernel_constraints>ClassName`` (names never change)."""


def snake_case(name: str) -> str:
    """``SumToPenalty`` -> ``sum_to_penalty``; ``NonNeg`` -> ``non_neg``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
