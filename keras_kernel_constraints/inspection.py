"""What a constraint does to the weights of a Keras model, and which groups are right.

A set's ``axis`` says which entries form one group, but whether a group is
one output unit depends on the layer that holds the weight: a Dense or Conv
kernel keeps its output units on the last axis, a ``Conv2DTranspose``
kernel ``(kh, kw, out, in)`` on the second last, a ``DepthwiseConv2D``
kernel ``(kh, kw, channels, multiplier)`` on the last two, an
``Embedding`` table on the first. This module knows those layouts:

* ``unit_axis(layer, weight)``: the ``axis=`` that makes one group per
  output unit of ``weight`` in ``layer`` (a layer or a layer class);
* ``constraint_summary(model)``: per constrained or penalised variable, the
  layer kind, weight, shape, object and what one group is, with a warning
  where groups span several output units or the object cannot work there.

``axis="units"`` on a grouped set (``SumTo(1.0, axis="units")``) asks for
one group per output unit; ``training.attach`` resolves it from the layer.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import keras

from keras_kernel_constraints import regularizers, sets
from keras_kernel_constraints._core import layout as layouts
from keras_kernel_constraints._core import variables as variables_

__all__ = ["SummaryRow", "constraint_summary", "unit_axis"]

UNITS = layouts.UNITS


@dataclasses.dataclass(frozen=True)
class _Kind:
    """Where a layer kind keeps the output units of one weight."""

    rank: int | None  # the weight's rank, when the class fixes it
    unit_axes: Callable[[int], tuple[int, ...]]  # rank -> axes that index units
    unit: str  # what one unit is called


def _last(rank: int) -> tuple[int, ...]:
    return (rank - 1,)


def _second_last(rank: int) -> tuple[int, ...]:
    return (rank - 2,)


def _last_two(rank: int) -> tuple[int, ...]:
    return (rank - 2, rank - 1)


def _first(rank: int) -> tuple[int, ...]:
    return (0,)


_FILTER = "output filter"
_CHANNEL = "output channel"  # depthwise: one (input channel, multiplier) pair


def _kinds() -> list[tuple[type, dict[str, _Kind]]]:
    """Layer classes (most specific first) and their weights' unit layouts."""
    L = keras.layers
    conv = [(L.Conv1D, 3), (L.Conv2D, 4), (L.Conv3D, 5)]
    transpose = [(L.Conv1DTranspose, 3), (L.Conv2DTranspose, 4), (L.Conv3DTranspose, 5)]
    depthwise = [(L.DepthwiseConv1D, 3), (L.DepthwiseConv2D, 4)]
    separable = [(L.SeparableConv1D, 3), (L.SeparableConv2D, 4)]
    table: list[tuple[type, dict[str, _Kind]]] = []
    table += [(c, {"kernel": _Kind(r, _second_last, _FILTER)}) for c, r in transpose]
    # tf_keras names a DepthwiseConv kernel "depthwise_kernel", Keras 3 "kernel".
    table += [
        (c, dict.fromkeys(("kernel", "depthwise_kernel"), _Kind(r, _last_two, _CHANNEL)))
        for c, r in depthwise
    ]
    table += [
        (
            c,
            {
                "depthwise_kernel": _Kind(r, _last_two, _CHANNEL),
                "pointwise_kernel": _Kind(r, _last, _FILTER),
            },
        )
        for c, r in separable
    ]
    table += [(c, {"kernel": _Kind(r, _last, _FILTER)}) for c, r in conv]
    table += [(L.Dense, {"kernel": _Kind(2, _last, "output unit")})]
    table += [(L.Embedding, {"embeddings": _Kind(2, _first, "row")})]
    return table


def _einsum_kind(layer: Any) -> _Kind:
    """EinsumDense: the kernel's axes whose letters appear in the output."""
    equation = layer.equation.replace(" ", "")
    inputs, output = equation.split("->")
    kernel = inputs.split(",")[1]
    axes = tuple(i for i, letter in enumerate(kernel) if letter in output)
    return _Kind(len(kernel), lambda rank: axes, "output unit")


def _kind(layer: Any, weight: str) -> _Kind | None:
    """The unit layout of ``weight`` in ``layer`` (instance or class), or None."""
    klass = layer if isinstance(layer, type) else type(layer)
    if _is_a(klass, keras.layers.EinsumDense):
        if isinstance(layer, type):
            raise ValueError(
                "unit_axis: an EinsumDense's units depend on its equation; pass the layer "
                "itself, not the class."
            )
        return _einsum_kind(layer) if weight == "kernel" else None
    for known, weights in _kinds():
        if _is_a(klass, known):
            return weights.get(weight)
    return None


def _is_a(klass: type, known: type) -> bool:
    """``issubclass``, with tf_keras's layer of the same name standing for Keras's."""
    if issubclass(klass, known):
        return True
    return any(
        base.__name__ == known.__name__ and variables_.is_tf_keras(base) for base in klass.__mro__
    )


def unit_axis(layer: Any, weight: str = "kernel", *, rank: int | None = None) -> tuple[int, ...]:
    """The ``axis=`` that makes one group per output unit of ``weight`` in ``layer``.

    Known for every built-in layer that holds a kernel: Dense, EinsumDense,
    Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D,
    SeparableConv1D/2D (``depthwise_kernel`` and ``pointwise_kernel``) and
    Embedding (``embeddings``: one group per row), and their subclasses.

    Args:
        layer: A layer, or a layer class (not for EinsumDense, whose units
            depend on its equation).
        weight: The variable's name in the layer: ``"kernel"``,
            ``"depthwise_kernel"``, ``"pointwise_kernel"``, ``"embeddings"``.
        rank: The weight's rank, for a layer kind whose class does not fix
            it (never needed for the built-in kinds above).

    Returns:
        The group axes, non-negative, sorted.

    Raises:
        ValueError: for a layer kind or weight whose output units are not
            known here (write the ``axis`` yourself).

    Example:

        >>> unit_axis(keras.layers.DepthwiseConv2D, "kernel")  # (kh, kw, in, multiplier)
        (0, 1)
        >>> unit_axis(keras.layers.Conv2DTranspose)  # (kh, kw, out, in)
        (0, 1, 3)
        >>> unit_axis(keras.layers.Embedding, "embeddings")  # one group per row
        (1,)
    """
    kind = _kind(layer, weight)
    name = layer.__name__ if isinstance(layer, type) else type(layer).__name__
    if kind is None:
        raise ValueError(
            f"unit_axis: the output units of weight {weight!r} of a {name} are not known "
            "here; write the set's `axis` yourself (the axes that form one group)."
        )
    rank = kind.rank if kind.rank is not None else rank
    if rank is None:
        raise ValueError(f"unit_axis: pass `rank`, the rank of weight {weight!r} of a {name}.")
    return _other_axes(kind.unit_axes(rank), rank)


def resolve_units(obj: Any, layer: Any, weight: str) -> Any:
    """``obj`` (a constraint or penalty) with ``axis="units"`` replaced by the
    axes of one output unit of ``weight`` in ``layer``; other objects as they are."""
    target = obj.constraint if isinstance(obj, regularizers.DistancePenalty) else obj
    if getattr(target, "axis", None) != UNITS:
        return obj
    resolved = dataclasses.replace(target, axis=unit_axis(layer, weight))
    if target is obj:
        return resolved
    return dataclasses.replace(obj, constraint=resolved)


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """One constrained or penalised variable, as ``constraint_summary`` prints it.

    Args:
        layer: The layer's name.
        kind: The layer's class name.
        weight: The variable's name in the layer.
        shape: The variable's shape.
        role: ``"constraint"`` or ``"regularizer"``.
        obj: The constraint's or penalty's repr.
        groups: What one group is ("8 groups of 27: one per output filter").
        warning: Why this may not do what was meant, or ``None``.

    Example:

        >>> from keras_kernel_constraints.constraints import NonNeg
        >>> model = keras.Sequential([keras.Input((3,)),
        ...                           keras.layers.Dense(2, kernel_constraint=NonNeg())])
        >>> constraint_summary(model, print_fn=None)[0].groups
        'each of the 6 entries'
    """

    layer: str
    kind: str
    weight: str
    shape: tuple[int, ...]
    role: str  # "constraint" or "regularizer"
    obj: str
    groups: str
    warning: str | None


def constraint_summary(
    model: keras.layers.Layer, *, print_fn: Callable[[str], Any] | None = print
) -> list[SummaryRow]:
    """Print, per constrained or penalised variable, what one group is.

    For every variable of ``model`` (nested layers included) with a
    constraint or a regularizer: the layer, its kind, the weight, its
    shape, the object, and its groups ("8 groups of 27: one per output
    filter"). A ``UserWarning`` is issued (and the row marked ``!``) where

    * a grouped set's groups span several output units of a known layer kind
      (``DepthwiseConv2D(3, depthwise_constraint=SumTo(1.0))``: one group
      across all channels; the right ``axis`` is named);
    * the weight does not fit the object (raised on first use otherwise);
    * a penalty is set as a constraint, or a constraint as a regularizer
      (Keras then adds the sum of the projected weight to the loss);
    * a constraint sits on an integer weight (it gets no gradient, so Keras
      never applies it).

    Args:
        model: A built model or layer.
        print_fn: Where the table goes (``None``: nowhere).

    Returns:
        The rows, for programs and tests.

    Example:

        >>> from keras_kernel_constraints.constraints import SumTo
        >>> model = keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.Conv2D(8, 3, kernel_constraint=SumTo(1.0), name="conv")])
        >>> rows = constraint_summary(model, print_fn=None)
        >>> rows[0].kind, rows[0].weight, rows[0].groups
        ('Conv2D', 'kernel', '8 groups of 27: one per output filter')
    """
    if not model.built:
        raise ValueError("constraint_summary() needs a built model: call it on data first.")
    rows = []
    for layer in model._flatten_layers(include_self=True):
        for variable in variables_.own_variables(layer):
            for role, obj in (
                ("constraint", variables_.constraint(variable)),
                ("regularizer", variables_.regularizer(layer, variable)),
            ):
                if obj is not None:
                    rows.append(_row(layer, variable, role, obj))
    for row in rows:
        if row.warning:
            warnings.warn(f"{row.layer}/{row.weight}: {row.warning}", UserWarning, stacklevel=2)
    if print_fn is not None:
        print_fn(_table(rows))
    return rows


def _row(layer: Any, variable: Any, role: str, obj: Any) -> SummaryRow:
    shape = tuple(variable.shape)
    groups, warning = _groups(layer, variable, role, obj)
    return SummaryRow(
        layer=layer.name,
        kind=type(layer).__name__,
        weight=variables_.short_name(variable),
        shape=shape,
        role=role,
        obj=repr(obj),
        groups=groups,
        warning=warning,
    )


def misuse(role: str, obj: Any, variable: Any) -> str | None:
    """Why ``obj`` cannot work as the ``role`` of ``variable``, or None."""
    is_penalty = isinstance(obj, keras.regularizers.Regularizer)
    is_constraint = isinstance(obj, keras.constraints.Constraint)
    if role == "constraint" and is_penalty and not is_constraint:
        return (
            f"{type(obj).__name__} is a penalty (a regularizer), set as a constraint: the "
            "optimizer would assign its scalar value to the weight. Pass it as a regularizer "
            "(kernel_regularizer=, Rule(regularizer=...))."
        )
    if role == "regularizer" and is_constraint and not is_penalty:
        return (
            f"{type(obj).__name__} is a constraint, set as a regularizer: Keras adds the sum "
            "of the projected weight to the loss instead of projecting. Pass it as a "
            "constraint (kernel_constraint=), or its penalty, .penalty(strength)."
        )
    dtype = keras.backend.standardize_dtype(variable.dtype)
    if role == "constraint" and not keras.backend.is_float_dtype(dtype):
        return (
            f"a constraint on a weight of dtype {dtype}: it gets no gradient, so Keras never "
            "applies the constraint. Constrain floating-point weights only."
        )
    return None


def _groups(layer: Any, variable: Any, role: str, obj: Any) -> tuple[str, str | None]:
    wrong = misuse(role, obj, variable)
    if wrong:
        return "-", wrong
    shape = tuple(variable.shape)
    the_set = _set_of(obj)
    if the_set is None:
        axis = getattr(obj, "axis", None) if isinstance(obj, keras.constraints.Constraint) else None
        if axis is None:
            return "unknown (not a set of this package)", None
        the_set = sets.L2Ball(axis=axis)  # Keras's norm constraints group like L2Ball
    if getattr(the_set, "axis", None) == UNITS:
        return "one per output unit, once attach() resolves axis='units'", (
            "axis='units' is resolved by training.attach(); set on the layer directly it "
            "raises on first use. Write the axes (inspection.unit_axis) instead."
        )
    try:
        resolved = the_set.resolve(shape, keras.backend.standardize_dtype(variable.dtype))
    except ValueError as error:
        return "does not fit", f"the weight of shape {shape} does not fit: {error}"
    layout = the_set.layout
    entries = math.prod(shape)
    if isinstance(layout, layouts.Elementwise):
        return f"each of the {entries} entries", None
    count = entries // resolved.size if resolved.size else 0
    if isinstance(layout, layouts.Slices):
        return f"{_many(count, 'slice')} of {resolved.size} along axis {resolved.axes[0]}", None
    if isinstance(layout, layouts.Matrices):
        rows, cols = resolved.matrix_shape
        count = entries // (rows * cols) if rows * cols else 0
        return f"{_many(count, 'matrix', 'matrices')} of {rows} x {cols}", None
    text = f"{_many(count, 'group')} of {resolved.size}"
    kind = _kind(layer, variables_.short_name(variable))
    if kind is None:
        return f"{text} over axes {resolved.axes}", None
    rank = len(shape)
    units = kind.unit_axes(rank)
    spans = [a for a in resolved.axes if a in units]
    if spans:
        right = _other_axes(units, rank)
        return f"{text} over axes {resolved.axes}", (
            f"each group spans several {kind.unit}s (axes {tuple(spans)} index them): "
            f"for one group per {kind.unit} use axis={right} (or axis='units' with attach)."
        )
    if len(resolved.axes) + len(units) == rank:
        return f"{text}: one per {kind.unit}", None
    return f"{text}: several per {kind.unit}", None


def _other_axes(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """The axes of a rank-``rank`` weight that are not in ``axes``: one unit's group."""
    return tuple(a for a in range(rank) if a not in axes)


def _many(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _set_of(obj: Any) -> sets.Set | None:
    if isinstance(obj, sets.Set):
        return obj
    if isinstance(obj, regularizers.DistancePenalty):
        return _set_of(obj.constraint)
    inner = getattr(obj, "_set", None)
    return inner if isinstance(inner, sets.Set) else None


def _table(rows: list[SummaryRow]) -> str:
    header = ("layer", "kind", "weight", "shape", "role", "object", "groups")
    lines = [
        (
            r.layer,
            r.kind,
            r.weight,
            str(r.shape),
            r.role,
            r.obj,
            r.groups + ("  !" * bool(r.warning)),
        )
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    text = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    ]
    notes = [f"! {r.layer}/{r.weight}: {r.warning}" for r in rows if r.warning]
    return "\n".join(text + notes)
