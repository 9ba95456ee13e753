"""Frozen value objects whose config mirrors ``__init__``, and 0.1.0 call forms.

Sets, constraints and penalties are values: their parameters are checked
once, at construction, and never change. Each is a frozen dataclass
(``@dataclasses.dataclass(frozen=True, repr=False, eq=False)``, written out
so that type checkers and the documentation read the signature), so
``__init__``, the signature, ``get_config`` (from the fields) and
``from_config`` (``cls(**config)``) are one list of fields. Equality,
hashing and ``repr`` come from the config (``Parameters``): two objects of
one class with the same config project (or penalise) identically.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import numbers
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


REMOVAL = "0.3.0"
"""Release in which the deprecated 0.1.0 positional call forms stop working."""


class Parameters:
    """Config, equality, hashing and repr derived from a frozen dataclass's fields."""

    def get_config(self) -> dict[str, Any]:
        """The parameters as JSON-native values (tuples become lists)."""
        return {
            field.name: _json(getattr(self, field.name))
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
            if field.init
        }

    @classmethod
    def from_config(cls: type[T], config: dict[str, Any]) -> T:
        """``cls(**config)``: a config is the keyword form of the constructor."""
        return cls(**config)

    def _normalize(self, **values: Any) -> None:
        """Store checked values during ``__post_init__`` (the fields are frozen)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, json.dumps(self.get_config(), sort_keys=True)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def legacy_init(order: tuple[str, ...]) -> Callable[[type[T]], type[T]]:
    """Class decorator: the class's ``__init__`` accepts its 0.1.0 positional form.

    ``order`` is the class's positional parameter order in release 0.1.0
    (without ``self``); see ``legacy_positional``. Apply it above the
    ``dataclass`` decorator, which writes the ``__init__`` it wraps.
    """

    def wrap(klass: type[T]) -> type[T]:
        klass.__init__ = legacy_positional(order)(klass.__init__)  # type: ignore[method-assign]
        return klass

    return wrap


def legacy_positional(
    order: tuple[str, ...], *, when: Callable[[tuple[Any, ...]], bool] | None = None
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Accept 0.1.0's positional call form of a function, with a ``DeprecationWarning``.

    ``order`` names the positional parameters after the first one (``self``
    or the weight ``w``) as release 0.1.0 ordered them. A call with more
    positional arguments than the current signature takes, or one for which
    ``when(args)`` is true, is read in that order.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        parameters = inspect.signature(function).parameters.values()
        allowed = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)
        owner = function.__qualname__.removesuffix(".__init__")

        @functools.wraps(function)
        def accept(*args: Any, **kwargs: Any) -> T:
            if len(args) > allowed or (when is not None and when(args)):
                head, tail = args[:1], args[1:]
                if len(tail) > len(order):
                    raise TypeError(
                        f"{owner} takes at most {len(order)} positional arguments in the "
                        f"0.1.0 form; got {len(tail)}."
                    )
                moved = dict(zip(order, tail, strict=False))
                clash = sorted(set(moved) & set(kwargs))
                if clash:
                    raise TypeError(f"{owner} got multiple values for {clash}.")
                keywords = ", ".join(f"{k}={v!r}" for k, v in moved.items())
                warnings.warn(
                    f"{owner}: positional arguments in the 0.1.0 order are deprecated and "
                    f"stop working in {REMOVAL}; pass them by keyword: {keywords}.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return function(*head, **moved, **kwargs)
            return function(*args, **kwargs)

        # No `__wrapped__`: TensorFlow's autograph follows it to the inner
        # function and would call that with the old positional form.
        del accept.__wrapped__
        accept.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
        return accept

    return decorate


def retired_names(module: str, replacements: dict[str, Any], advice: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that still serves names retired in 0.2.0, with a
    ``DeprecationWarning`` giving ``advice``, and raises for any other name."""

    def __getattr__(name: str) -> Any:
        if name in replacements:
            warnings.warn(
                f"{module}.{name} is deprecated (0.2.0): {advice}",
                DeprecationWarning,
                stacklevel=2,
            )
            return replacements[name]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def is_plain_int(value: Any) -> bool:
    """An integer that is not a bool (``True`` is an ``int`` in Python)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _json(value: Any) -> Any:
    return [_json(v) for v in value] if isinstance(value, tuple) else value
