"""Layouts: which entries of a weight a set constrains together.

A layout is part of a set's parameters (its ``axis``). It is resolved once
per call, against the weight's static shape and dtype, into a
``ResolvedLayout``: the small frozen value every private kernel receives.
Kernels never re-validate; every shape error is raised here and names the
class or function the user called.

* ``Elementwise()``: every entry is its own group (NonNeg, Box).
* ``Groups(axis)``: the entries along ``axis`` (an int or a tuple) form one
  group, one group per index of the other axes. ``axis=None`` means every
  axis but the last for a weight of rank >= 2 (one group per output unit of
  Dense and Conv kernels) and the whole tensor for a scalar or a vector.
* ``Slices(axis)``: every 1-D slice along the one ``axis`` is an ordered
  sequence (Monotone).
* ``Matrices(axis, batch_axis)``: a matrix whose rows are indexed by
  ``axis`` (the entries of one column, as a group of ``Groups``) and whose
  columns by the other axes, one matrix per index of ``batch_axis`` (for
  matrix sets).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from keras import ops

from keras_kernel_constraints._core import dtypes, validation

AxisLike = int | tuple[int, ...] | list[int] | str | None
"""An ``axis`` argument: ``None``, an int, a sequence of distinct ints, or ``"units"``."""

UNITS = validation.UNITS


@dataclasses.dataclass(frozen=True)
class ResolvedLayout:
    """A layout resolved against one weight: what a kernel needs, checked.

    Made by ``Layout.resolve`` (or ``Set.resolve``), once per call.

    Args:
        shape: The weight's static shape.
        axes: Non-negative group axes, sorted (the row axes, for
            matrices); ``()`` for elementwise layouts.
        size: Entries in one group (the product of the group axes' sizes;
            the rows of one matrix).
        dtype: The weight's dtype name.
        batch_axes: Axes indexing separate matrices (``Matrices`` only).

    Example:

        >>> resolved = Groups(axis=(0, 1)).resolve((3, 3, 8, 16), "float16", "SumTo")
        >>> resolved.axes, resolved.size, resolved.compute_dtype
        ((0, 1), 9, 'float32')
        >>> rows, restore = resolved.to_rows(np.zeros((3, 3, 8, 16)))
        >>> tuple(rows.shape), tuple(restore(rows).shape)
        ((128, 9), (3, 3, 8, 16))
    """

    shape: tuple[int, ...]
    axes: tuple[int, ...]
    size: int
    dtype: str
    batch_axes: tuple[int, ...] = ()

    @property
    def compute_dtype(self) -> str:
        """Dtype the kernel works in: float32 for half precision, else ``dtype``."""
        return dtypes.compute_dtype(self.dtype)

    @property
    def empty(self) -> bool:
        """Whether the weight has no entries at all."""
        return any(d == 0 for d in self.shape)

    def bound(self, value: float | tuple) -> Any:
        """``value`` rounded to the weight's dtype, as a tensor in the compute dtype.

        Bounds round to the weight's dtype first, so results cast back lie
        within the bounds as the weight's dtype represents them. Scalars go
        through ``convert_to_tensor(value, dtype=...)``, never ``ops.cast``: a
        Python float cast by TensorFlow passes through float32 first. A
        per-entry bound (nested tuples) is rounded by NumPy, once, to the
        weight's dtype (bfloat16, which NumPy lacks: through float32).
        """
        if isinstance(value, tuple):
            numpy_dtype = "float32" if self.dtype == "bfloat16" else self.dtype
            rounded = ops.convert_to_tensor(np.asarray(value, dtype=numpy_dtype), dtype=self.dtype)
        else:
            rounded = ops.convert_to_tensor(value, dtype=self.dtype)
        return ops.cast(rounded, self.compute_dtype)

    def to_rows(self, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        """Move the group axes last (in order) and flatten: a ``(groups, size)`` matrix.

        Returns the matrix and a function mapping a matrix of the same shape
        back to ``shape``. Shapes are static, so both are free reshapes plus
        one transpose each under XLA.
        """
        # Comparisons, not `in` or `.index`: torch.compile (Dynamo, torch 2.13)
        # mis-evaluates membership in a tuple of ints it has made dynamic.
        rank = len(self.shape)
        others = [a for a in range(rank) if all(a != b for b in self.axes)]
        perm = others + list(self.axes)
        rows = ops.reshape(ops.transpose(x, perm), (-1, self.size))
        moved_shape = tuple(self.shape[a] for a in perm)
        inverse = [next(i for i, p in enumerate(perm) if p == a) for a in range(rank)]

        def restore(r: Any) -> Any:
            return ops.transpose(ops.reshape(r, moved_shape), inverse)

        return rows, restore

    def to_columns(self, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        """Move the group axes first (in order) and flatten: a ``(size, groups)`` matrix.

        ``to_rows`` transposed, and the way back. Where the group axes already
        lead (a kernel's default groups, one per output unit) both ways are
        free reshapes: XLA's CPU backend reduces these columns about twice as
        fast as rows it must first transpose.
        """
        rank = len(self.shape)
        perm = list(self.axes) + [a for a in range(rank) if all(a != b for b in self.axes)]
        columns = ops.reshape(ops.transpose(x, perm), (self.size, -1))
        moved_shape = tuple(self.shape[a] for a in perm)
        inverse = [next(i for i, p in enumerate(perm) if p == a) for a in range(rank)]

        def restore(c: Any) -> Any:
            return ops.transpose(ops.reshape(c, moved_shape), inverse)

        return columns, restore

    def to_matrices(self, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        """The weight as a ``(matrices, rows, columns)`` tensor, and the way back.

        Rows are indexed by ``axes``, columns by the axes that are neither
        row nor batch axes, each flattened in order. Static reshapes and one
        transpose each way.
        """
        rank = len(self.shape)
        taken = self.batch_axes + self.axes
        columns = [a for a in range(rank) if all(a != b for b in taken)]
        perm = list(self.batch_axes) + list(self.axes) + columns
        count = math.prod(self.shape[a] for a in columns)
        moved_shape = tuple(self.shape[a] for a in perm)
        matrices = ops.reshape(ops.transpose(x, perm), (-1, self.size, count))
        inverse = [next(i for i, p in enumerate(perm) if p == a) for a in range(rank)]

        def restore(m: Any) -> Any:
            return ops.transpose(ops.reshape(m, moved_shape), inverse)

        return matrices, restore

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of one matrix (``Matrices`` only)."""
        taken = self.batch_axes + self.axes
        columns = [d for a, d in enumerate(self.shape) if all(a != b for b in taken)]
        return self.size, math.prod(columns)


class Layout(abc.ABC):
    """Which entries form one group; resolved against a weight by ``resolve``.

    Example:

        >>> Slices(axis=0).resolve((9, 2, 4), "float32", "Monotone").axes
        (0,)
        >>> Slices(axis=3).resolve((9, 2, 4), "float32", "Monotone")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Monotone: `axis`=3 is out of range for a weight of shape (9, 2, 4) ...
    """

    @abc.abstractmethod
    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        """The group axes for a weight of ``shape``; ``ValueError`` naming ``owner``."""

    def resolve(self, shape: tuple[int, ...], dtype: str, owner: str) -> ResolvedLayout:
        """Check the layout against ``shape`` and return the resolved value."""
        axes = self.group_axes(shape, owner)
        dims = [shape[a] for a in axes]
        if any(d is None for d in dims):
            raise ValueError(
                f"{owner}: the group axes {axes} of a weight of shape {shape} "
                "must have a static size."
            )
        return ResolvedLayout(shape, axes, math.prod(dims), dtype)


@dataclasses.dataclass(frozen=True)
class Elementwise(Layout):
    """Every entry is a group of its own (``NonNeg``, ``Box``, ``LinfBall``).

    Example:

        >>> Elementwise().resolve((3, 4), "float32", "Box").size
        1
    """

    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        return ()


@dataclasses.dataclass(frozen=True)
class Groups(Layout):
    """The entries along ``axis`` form one group, one group per index of the other axes.

    Args:
        axis: An int or a tuple of ints; ``None`` means every axis but the
            last for a weight of rank >= 2 (one group per output unit of
            Dense and Conv kernels), the whole tensor for rank <= 1;
            ``"units"`` is resolved from the layer by ``training.attach``.

    Example:

        >>> Groups().resolve((3, 3, 8, 16), "float32", "SumTo").axes  # one per filter
        (0, 1, 2)
    """

    axis: AxisLike = None

    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        rank = len(shape)
        if self.axis == UNITS:
            raise ValueError(
                f"{owner}: axis={UNITS!r} means one group per output unit of the layer that "
                f"holds the weight, which a weight of shape {shape} alone does not tell. Set "
                "it with training.attach(model, Rule(...)), which resolves it from the layer, "
                "or write the axes: inspection.unit_axis(layer, weight) gives them."
            )
        if self.axis is None:
            return tuple(range(rank - 1)) if rank >= 2 else tuple(range(rank))
        return tuple(sorted(_resolve_axes(self.axis, shape, owner)))


@dataclasses.dataclass(frozen=True)
class Slices(Layout):
    """Every 1-D slice along ``axis`` is one ordered sequence (``Monotone``).

    Args:
        axis: The one ordered axis.

    Example:

        >>> Slices(axis=-1).resolve((4, 12), "float32", "Monotone").size
        12
    """

    axis: int = 0

    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        if not shape:
            raise ValueError(
                f"{owner} needs a weight of rank >= 1 (there is nothing to order "
                "in a scalar); got a scalar."
            )
        return _resolve_axes(self.axis, shape, owner)


@dataclasses.dataclass(frozen=True)
class Matrices(Layout):
    """A batch of matrices: rows indexed by ``axis``, columns by the other axes,
    one matrix per index of ``batch_axis``.

    Args:
        axis: The axes whose entries form one column (a group, as for
            ``Groups``); ``None`` means every axis but the last and the batch
            axes, so a Dense kernel ``(in, out)`` is itself and a Conv2D
            kernel ``(kh, kw, in, out)`` is the ``(kh·kw·in) × out`` matrix;
            ``"units"`` is resolved from the layer by ``training.attach``.
        batch_axis: ``None`` (one matrix), an int or a tuple of ints: axes
            indexing separate matrices (``batch_axis=0`` for a ``(heads, n,
            n)`` weight, ``(0, 1)`` for one matrix per tap of a conv kernel).

    Example:

        >>> resolved = Matrices(batch_axis=0).resolve((5, 3, 4), "float32", "Orthogonal")
        >>> resolved.batch_axes, resolved.axes, resolved.matrix_shape
        ((0,), (1,), (3, 4))
        >>> Matrices().resolve((3, 3, 8, 16), "float32", "Orthogonal").matrix_shape
        (72, 16)
    """

    axis: AxisLike = None
    batch_axis: AxisLike = None

    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        return self._split(shape, owner)[1]

    def resolve(self, shape: tuple[int, ...], dtype: str, owner: str) -> ResolvedLayout:
        batch = self._split(shape, owner)[0]
        resolved = super().resolve(shape, dtype, owner)
        return dataclasses.replace(resolved, batch_axes=batch)

    def _split(self, shape: tuple[int, ...], owner: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch axes, row axes)``, checked: a matrix needs both rows and columns."""
        rank = len(shape)
        if rank < 2:
            raise ValueError(
                f"{owner} needs a matrix: a weight of rank >= 2 (or a batch of matrices); "
                f"got shape {shape}."
            )
        batch = (
            ()
            if self.batch_axis is None
            else _resolve_axes(self.batch_axis, shape, owner, name="batch_axis")
        )
        if self.axis == UNITS:
            return batch, Groups(UNITS).group_axes(shape, owner)  # raises, saying how
        if self.axis is None:
            rows = tuple(a for a in range(rank - 1) if all(a != b for b in batch))
        else:
            rows = _resolve_axes(self.axis, shape, owner)
        shared = sorted(set(rows) & set(batch))
        columns = [a for a in range(rank) if all(a != b for b in rows + batch)]
        if shared or not rows or not columns:
            problem = (
                f"`axis` and `batch_axis` share the axes {shared}"
                if shared
                else "no axis is left for the rows"
                if not rows
                else "no axis is left for the columns"
            )
            raise ValueError(
                f"{owner}: {problem} of a weight of shape {shape} (axis={self.axis!r}, "
                f"batch_axis={self.batch_axis!r}); rows are indexed by `axis`, columns by "
                "the axes that are neither `axis` nor `batch_axis`."
            )
        return batch, tuple(sorted(rows))


def _resolve_axes(
    axis: AxisLike, shape: tuple[int, ...], owner: str, name: str = "axis"
) -> tuple[int, ...]:
    """Non-negative axes in the given order; ``ValueError`` naming ``owner`` if they do not fit."""
    rank = len(shape)
    assert not isinstance(axis, str)  # "units" is resolved (or refused) by Groups
    axes = (axis,) if isinstance(axis, int) else tuple(axis or ())
    shown = validation.axis_config(axis)
    resolved = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(
                f"{owner}: `{name}`={shown} is out of range for a weight "
                f"of shape {shape} (rank {rank}); valid axes are {-rank}..{rank - 1}."
                if rank
                else f"{owner}: `{name}`={shown} is out of range for a scalar weight; "
                "use axis=None."
            )
        resolved.append(a % rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(
            f"{owner}: `{name}`={shown} names the same axis twice for a weight of rank {rank}."
        )
    return tuple(resolved)
