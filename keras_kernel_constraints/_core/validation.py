"""Argument checks shared by every set, constraint, penalty and projection.

Each check names the offending parameter and the allowed range, and returns
the value normalised to plain Python types, so configs stay JSON-native and
round-trip exactly. Checks that need the weight's shape take an ``owner``
(the class or function the user called) and name it.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from keras_kernel_constraints._core import params

ALLOWED_POWERS = (1, 2)

UNITS = "units"
"""The ``axis`` that asks for one group per output unit of the layer holding the weight."""


def finite_number(value, name: str) -> float:
    """Return ``value`` as a Python float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a finite real number; got {value!r} of type {type(value).__name__}."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite real number; got {value}.")
    return value


def non_negative_number(value, name: str) -> float:
    """Return ``value`` as a finite float >= 0, or raise naming ``name``."""
    value = finite_number(value, name)
    if value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0; got {value}.")
    return value


def positive_number(value, name: str) -> float:
    """Return ``value`` as a finite float > 0, or raise naming ``name``."""
    value = finite_number(value, name)
    if value <= 0:
        raise ValueError(f"`{name}` must be a finite number > 0; got {value}.")
    return value


def optional_number(value, name: str) -> float | None:
    """``None``, or ``value`` as a finite Python float."""
    return None if value is None else finite_number(value, name)


def ordered_bounds(min_value, max_value) -> tuple[float, float]:
    """Return finite ``(min_value, max_value)`` with ``min_value <= max_value``."""
    min_value = finite_number(min_value, "min_value")
    max_value = finite_number(max_value, "max_value")
    if min_value > max_value:
        raise ValueError(
            f"`min_value` must be <= `max_value`; got min_value={min_value}, max_value={max_value}."
        )
    return min_value, max_value


def norm_bounds(min_norm, max_norm) -> tuple[float, float]:
    """Return ``(min_norm, max_norm)`` with ``0 <= min_norm <= max_norm``, ``max_norm > 0``."""
    min_norm = non_negative_number(min_norm, "min_norm")
    max_norm = positive_number(max_norm, "max_norm")
    if min_norm > max_norm:
        raise ValueError(
            f"`min_norm` must be <= `max_norm`; got min_norm={min_norm}, max_norm={max_norm}."
        )
    return min_norm, max_norm


def optional_ordered_bounds(min_value, max_value) -> tuple[float | None, float | None]:
    """Like ``ordered_bounds``, with ``None`` for a missing bound."""
    min_value = optional_number(min_value, "min_value")
    max_value = optional_number(max_value, "max_value")
    if min_value is not None and max_value is not None:
        ordered_bounds(min_value, max_value)
    return min_value, max_value


def optional_interval(min_value, max_value, *, owner: str) -> tuple[float | None, float | None]:
    """Bounds of a box side by side: ``None`` or an infinite bound on its open side.

    Returns ``(min_value, max_value)`` with ``None`` for an open side. Neither
    bound at all keeps the 0.1.0 defaults ``(0.0, 1.0)`` with a
    ``DeprecationWarning``; a bound that excludes every number (``min_value``
    of ``+inf``, ``max_value`` of ``-inf``), NaN or ``min_value > max_value``
    raises ``ValueError``. Use ``entry_interval`` where a bound may differ
    per entry.
    """
    if min_value is None and max_value is None:
        warnings.warn(
            f"{owner}() without bounds means [0, 1], its 0.1.0 default, until "
            f"{params.REMOVAL}, when a bound is required; write {owner}(0.0, 1.0), or "
            f"{owner}(min_value=...) / {owner}(max_value=...) for a one-sided box.",
            DeprecationWarning,
            stacklevel=4,
        )
        return 0.0, 1.0
    lo = _open_side(min_value, "min_value", open_at=-math.inf)
    hi = _open_side(max_value, "max_value", open_at=math.inf)
    if lo is not None and hi is not None:
        ordered_bounds(lo, hi)
    return lo, hi


EntryBound = float | tuple | None
"""A bound of every entry: ``None`` (open), one float, or nested tuples of
floats (one per entry of a broadcastable slice of the weight; the open
infinity marks an entry without that bound)."""


def entry_interval(min_value, max_value, *, owner: str) -> tuple[EntryBound, EntryBound]:
    """``optional_interval`` where either bound may also be an array of bounds.

    An array (a nested list, tuple or NumPy array of real numbers, of rank
    >= 1) becomes nested tuples of floats; a rank-0 array, a number. Its
    entries may hold the side's open infinity (``-inf`` in ``min_value``)
    but not the other one or NaN, and two arrays must broadcast together
    with ``min_value <= max_value`` at every entry. Whether the arrays fit
    a weight is checked on first use (``entry_bound_fits``).
    """
    if is_array(min_value) or is_array(max_value):
        return _entry_sides(min_value, max_value)
    return optional_interval(min_value, max_value, owner=owner)


def optional_entry_bounds(min_value, max_value) -> tuple[EntryBound, EntryBound]:
    """``optional_ordered_bounds`` where either bound may also be an array of
    bounds, as for ``entry_interval`` (no default box: ``None`` is open)."""
    if is_array(min_value) or is_array(max_value):
        return _entry_sides(min_value, max_value)
    return optional_ordered_bounds(min_value, max_value)


def _entry_sides(min_value, max_value) -> tuple[EntryBound, EntryBound]:
    """Both sides of per-entry bounds, each checked, and ordered at every entry."""
    lo = _entry_side(min_value, "min_value", open_at=-math.inf)
    hi = _entry_side(max_value, "max_value", open_at=math.inf)
    if lo is not None and hi is not None:
        _ordered_entries(lo, hi)
    return lo, hi


def ordered_entries_fit(
    min_value: EntryBound,
    max_value: EntryBound,
    min_step: float,
    *,
    shape: tuple[int, ...],
    axis: int,
    increasing: bool,
    owner: str,
) -> None:
    """Raise unless every slice along ``axis`` has a point ordered ``min_step``
    apart with each entry within its own bounds (arrays broadcast to ``shape``).

    Entry ``i`` of a non-decreasing slice is at least ``max_{j<=i} (l_j +
    (i - j) step)`` and at most ``min_{k>=i} (u_k - (k - i) step)``; a point
    exists exactly when the first never exceeds the second.
    """
    n = shape[axis]
    low = np.broadcast_to(np.asarray(-math.inf if min_value is None else min_value, float), shape)
    high = np.broadcast_to(np.asarray(math.inf if max_value is None else max_value, float), shape)
    low, high = np.moveaxis(low, axis, -1), np.moveaxis(high, axis, -1)
    if not increasing:
        low, high = low[..., ::-1], high[..., ::-1]
    steps = min_step * np.arange(n)
    with np.errstate(invalid="ignore"):  # inf - inf cannot occur: steps are finite
        floor = np.maximum.accumulate(low - steps, axis=-1) + steps
        ceiling = np.minimum.accumulate((high - steps)[..., ::-1], axis=-1)[..., ::-1] + steps
    finite = np.abs(np.where(np.isfinite(floor), floor, 0.0)) + np.abs(
        np.where(np.isfinite(ceiling), ceiling, 0.0)
    )
    bad = floor > ceiling + 1e-12 * np.maximum(1.0, finite)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        entry = index[-1] if increasing else n - 1 - index[-1]
        where = list(index[:-1])
        order = "non-decreasing" if increasing else "non-increasing"
        raise ValueError(
            f"{owner}: the slice at {where} (every index but `axis`={axis}) has no {order} "
            f"point{f' with steps of at least {min_step}' if min_step else ''} within its "
            f"bounds: entry {entry} must be at least {floor[index]} (from the bounds before "
            f"it) and at most {ceiling[index]} (from the bounds after it)."
        )


def entry_bound_shape(bound: EntryBound) -> tuple[int, ...]:
    """The shape of a per-entry bound: ``()`` for one number or ``None``."""
    return np.shape(bound) if isinstance(bound, tuple) else ()


def entry_bound_fits(bound: EntryBound, name: str, shape: tuple[int, ...], owner: str) -> None:
    """Raise ``ValueError`` unless ``bound`` broadcasts to ``shape`` without growing it."""
    bound_shape = entry_bound_shape(bound)
    if not _broadcasts_into(bound_shape, tuple(shape)):
        raise ValueError(
            f"{owner}: `{name}` has shape {bound_shape}, which does not broadcast to the "
            f"weight's shape {tuple(shape)}. Give one bound per entry, shaped like the "
            f"weight or a trailing slice of it (e.g. {tuple(shape[-1:])}: one per output "
            "unit), with size-1 axes where the bound repeats."
        )


def finite_entry_interval(min_value, max_value) -> tuple[float | tuple, float | tuple]:
    """``ordered_bounds`` where either bound may be an array (as for
    ``entry_interval``), every entry finite."""
    sides = []
    for name, value, open_at in (
        ("min_value", min_value, -math.inf),
        ("max_value", max_value, math.inf),
    ):
        sides.append(_finite_side(value, name, open_at=open_at))
    _ordered_entries(*sides)
    return sides[0], sides[1]


def group_sums_fit(low_sums, high_sums, value: float, owner: str) -> None:
    """Raise unless every group's entries, each in its own interval, can sum to
    ``value``: ``sum(min_value) <= value <= sum(max_value)`` per group."""
    low, high = np.asarray(low_sums, np.float64), np.asarray(high_sums, np.float64)
    slack = 1e-12 * np.maximum(max(1.0, abs(value)), np.maximum(np.abs(low), np.abs(high)))
    bad = (low > value + slack) | (high < value - slack)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at {list(index)}" if index else ""
        raise ValueError(
            f"{owner}: the group{where} cannot sum to `value`={value}: its entries' "
            f"bounds allow sums in [{low[index]}, {high[index]}]. Every group needs "
            "sum(min_value) <= value <= sum(max_value)."
        )


def finite_values(value, name: str) -> float | tuple:
    """A finite number, or an array of them (nested tuples of floats; a rank-0
    array is a number), or raise naming ``name``."""
    if not is_array(value):
        return finite_number(value, name)
    return _finite_side(value, name, open_at=math.inf)


def group_values_fit(
    values: float | tuple, name: str, shape: tuple[int, ...], axes: tuple[int, ...], owner: str
) -> None:
    """Raise ``ValueError`` unless per-group ``values`` broadcast to the shape of
    the group sums (``shape`` with the group ``axes`` as 1) without growing it."""
    sums = tuple(1 if a in axes else d for a, d in enumerate(shape))
    given = entry_bound_shape(values)
    if not _broadcasts_into(given, sums):
        raise ValueError(
            f"{owner}: `{name}` has shape {given}, which does not broadcast to the shape "
            f"of the group sums {sums} (the weight's shape {tuple(shape)} with the group "
            f"axes {tuple(axes)} as 1). Give one {name} per group, e.g. shaped "
            f"{tuple(d for a, d in enumerate(shape) if a not in axes)} when the group axes "
            "lead."
        )


def is_array(value) -> bool:
    """A list, tuple or NumPy array: per-entry values, rather than one number."""
    return isinstance(value, (list, tuple, np.ndarray))


def _broadcasts_into(given: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether shape ``given`` broadcasts to ``target`` without growing it."""
    try:
        return np.broadcast_shapes(given, target) == target
    except ValueError:
        return False


def _finite_side(value, name: str, *, open_at: float) -> float | tuple:
    """``_entry_side`` with every entry finite (no open entries, no ``None``)."""
    side = _entry_side(value, name, open_at=open_at) if value is not None else None
    if side is None or not np.all(np.isfinite(np.asarray(side, np.float64))):
        raise ValueError(f"`{name}` must be finite at every entry; got {name}={value!r}.")
    return side


def _entry_side(value, name: str, *, open_at: float) -> EntryBound:
    if not is_array(value):
        return _open_side(value, name, open_at=open_at)
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        raise ValueError(
            f"`{name}` must be a number or a rectangular array of numbers; got {value!r}."
        ) from None
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise ValueError(
            f"`{name}` must be a number or a non-empty array of real numbers; got an array "
            f"of shape {array.shape} and dtype {array.dtype}."
        )
    array = array.astype(np.float64)
    if array.ndim == 0:
        return _open_side(float(array), name, open_at=open_at)
    bad = np.isnan(array) | (array == -open_at)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` must hold real numbers, or {open_at} for an entry without that bound; "
            f"got {name}{list(index)}={array[index]}."
        )
    if np.all(array == open_at):
        return None
    return _nested_tuple(array)


def _nested_tuple(array: np.ndarray) -> tuple:
    if array.ndim == 1:
        return tuple(float(v) for v in array)
    return tuple(_nested_tuple(row) for row in array)


def _ordered_entries(lo: EntryBound, hi: EntryBound) -> None:
    low, high = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    try:
        shape = np.broadcast_shapes(low.shape, high.shape)
    except ValueError:
        raise ValueError(
            f"`min_value` (shape {low.shape}) and `max_value` (shape {high.shape}) must "
            "broadcast together."
        ) from None
    low, high = np.broadcast_to(low, shape), np.broadcast_to(high, shape)
    crossed = low > high
    if crossed.any():
        index = tuple(int(i) for i in np.argwhere(crossed)[0])
        raise ValueError(
            f"`min_value` must be <= `max_value` at every entry; got min_value={low[index]} "
            f"> max_value={high[index]} at entry {list(index)} (of the broadcast shape "
            f"{shape})."
        )


def _open_side(value, name: str, *, open_at: float) -> float | None:
    """``None`` for ``None`` or the infinity ``open_at``; else a finite float."""
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, numbers.Real) and value == open_at:
        return None
    if isinstance(value, numbers.Real) and math.isinf(value):
        raise ValueError(
            f"`{name}` cannot be {value}: no number would fit. Use None (or {open_at}) "
            f"for no bound on that side; got {name}={value}."
        )
    return finite_number(value, name)


def steps_fit(n: int, min_value, max_value, min_step: float, owner: str) -> None:
    """Raise unless ``n`` entries, ``min_step`` apart, fit in ``[min_value, max_value]``."""
    if min_value is None or max_value is None or n < 2:
        return
    span = (n - 1) * min_step
    # Relative slack: (n - 1) * min_step may round just past an exact fit.
    if max_value - min_value < span * (1 - 1e-12):
        raise ValueError(
            f"{owner}: `min_step`={min_step} is infeasible: {n} ordered entries need "
            f"max_value - min_value >= {n - 1} * min_step = {span}, "
            f"but min_value={min_value}, max_value={max_value}."
        )


def sum_fits(n: int, value: float, min_value: float, max_value: float, owner: str) -> None:
    """Raise unless a group of ``n`` entries in ``[min_value, max_value]`` can sum to ``value``.

    A relative slack of 1e-12 accepts targets that miss ``n * bound`` only by
    the rounding of computing them (``value = n * max_value`` in floats).
    """
    slack = 1e-12 * max(1.0, abs(value), n * abs(min_value), n * abs(max_value))
    if n and (n * min_value > value + slack or n * max_value < value - slack):
        raise ValueError(
            f"{owner}: no group of n={n} entries in [{min_value}, {max_value}] sums to "
            f"`value`={value}; need n * min_value <= value <= n * max_value."
        )


def power(value, name: str = "power") -> int:
    """Return the penalty exponent as an int from ``ALLOWED_POWERS``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be one of {ALLOWED_POWERS}; got {value!r}.")
    if value not in ALLOWED_POWERS:
        raise ValueError(f"`{name}` must be one of {ALLOWED_POWERS}; got {value!r}.")
    return int(value)  # type: ignore[call-overload]


def axis_argument(axis, name: str = "axis"):
    """Check an ``axis`` argument before the weight's rank is known.

    Accepts ``None``, an int, a non-empty list/tuple of distinct ints, or
    ``"units"`` (one group per output unit, resolved from the layer by
    ``training.attach``). Returns ``None``, an int, a tuple of ints or
    ``"units"``. Range checks need the weight's rank and happen on first use
    (see ``layout.Groups``).
    """
    if axis is None or axis == UNITS:
        return axis
    if _is_int(axis):
        return int(axis)
    if isinstance(axis, (list, tuple)):
        if len(axis) == 0:
            raise ValueError(
                f"`{name}` must be None, an int or a non-empty sequence of "
                "ints; got an empty sequence."
            )
        bad = [a for a in axis if not _is_int(a)]
        if bad:
            raise ValueError(
                f"`{name}` must contain only integers; got {axis!r} (non-integer entries: {bad!r})."
            )
        axes = tuple(int(a) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"`{name}` must not repeat an axis; got {axis!r}.")
        return axes
    raise ValueError(
        f"`{name}` must be None, an int, a sequence of ints or {UNITS!r}; got {axis!r} "
        f"of type {type(axis).__name__}."
    )


def ordered_axis(axis, name: str = "axis") -> int:
    """Return the one axis an order runs along, as an int, or raise naming ``name``."""
    if not _is_int(axis):
        raise ValueError(
            f"`{name}` must be one int, the ordered axis; got {axis!r}. "
            "Order constraints and penalties run along a single axis."
        )
    return int(axis)


def optional_index(value, name: str, meaning: str) -> int | None:
    """Return ``value`` as an int, or None, or raise naming ``name`` and what it indexes."""
    if value is None:
        return None
    if not _is_int(value):
        raise ValueError(f"`{name}` must be None or an int, {meaning}; got {value!r}.")
    return int(value)


def boolean(value, name: str) -> bool:
    """Return ``value`` if it is a bool, or raise naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; got {value!r}.")
    return value


def axis_config(axis):
    """JSON form of a checked ``axis``: None, an int or a list of ints."""
    return list(axis) if isinstance(axis, tuple) else axis


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
