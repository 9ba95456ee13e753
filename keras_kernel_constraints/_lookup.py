"""Name tables and ``get(identifier)`` resolution, as in ``keras.constraints.get``."""

from __future__ import annotations

import inspect
import re

import keras


def snake_case(name: str) -> str:
    """``SumToPenalty`` -> ``sum_to_penalty``; ``NonNeg`` -> ``non_neg``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def name_table(classes) -> dict:
    """Map class names and their snake_case aliases to the classes."""
    table = {}
    for cls in classes:
        table[cls.__name__] = cls
        table[snake_case(cls.__name__)] = cls
    return table


def resolve(identifier, table: dict, kind: str, keras_get):
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
                f"Unknown {kind} name {identifier!r}; known names: "
                f"{', '.join(sorted(table))}."
            )
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}.")
    return obj
