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
* ``Matrices(axes)``: every 2-D slice over the two ``axes`` is a matrix,
  rows along the first (a batch of matrices, for matrix sets).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

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
        axes: Non-negative group axes (sorted for groups; in order for
            matrices); ``()`` for elementwise layouts.
        size: Entries in one group (the product of the group axes' sizes).
        dtype: The weight's dtype name.

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

    @property
    def compute_dtype(self) -> str:
        """Dtype the kernel works in: float32 for half precision, else ``dtype``."""
        return dtypes.compute_dtype(self.dtype)

    @property
    def empty(self) -> bool:
        """Whether the weight has no entries at all."""
        return any(d == 0 for d in self.shape)

    def bound(self, value: float) -> Any:
        """``value`` rounded to the weight's dtype, as a tensor in the compute dtype.

        Bounds round to the weight's dtype first, so results cast back lie
        within the bounds as the weight's dtype represents them. Scalars go
        through ``convert_to_tensor(value, dtype=...)``, never ``ops.cast``: a
        Python float cast by TensorFlow passes through float32 first.
        """
        return ops.cast(ops.convert_to_tensor(value, dtype=self.dtype), self.compute_dtype)

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
    """Every 2-D slice over ``axes`` (rows, columns) is one matrix: a batch of matrices.

    Args:
        axes: The row and the column axis, in that order.

    Example:

        >>> resolved = Matrices().resolve((5, 3, 4), "float32", "Orthogonal")
        >>> resolved.axes, resolved.size
        ((1, 2), 12)
    """

    axes: tuple[int, int] = (-2, -1)

    def group_axes(self, shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
        if len(shape) < 2:
            raise ValueError(
                f"{owner} needs a weight of rank >= 2 (a matrix or a batch of "
                f"matrices); got shape {shape}."
            )
        return _resolve_axes(self.axes, shape, owner, name="axes")


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
