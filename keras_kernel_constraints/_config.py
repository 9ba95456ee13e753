"""Equality, hashing and repr derived from ``get_config``.

Constraints and regularizers are value objects: two instances with the same
class and config project (or penalise) identically, so they compare equal.
"""

from __future__ import annotations

import json

import keras

PACKAGE = "keras_kernel_constraints"

register = keras.saving.register_keras_serializable(package=PACKAGE)
"""Class decorator: registers as ``keras_kernel_constraints>ClassName``."""


class ConfigValueMixin:
    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__qualname__, json.dumps(self.get_config(), sort_keys=True)))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
