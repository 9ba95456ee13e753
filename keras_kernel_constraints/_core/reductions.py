"""Per-group reductions that stay exact and finite for every finite input."""

from __future__ import annotations

from typing import Any

from keras import backend, ops

from keras_kernel_constraints._core.dtypes import EPSILON, LARGEST, MIN_EXPONENT
from keras_kernel_constraints._core.layout import ResolvedLayout


def group_sum(x: Any, axes: tuple[int, ...]) -> Any:
    """Per-group sum, kept broadcastable against ``x``."""
    return ops.sum(x, axis=axes, keepdims=True) if axes else x


def scaled_group_sum(x: Any, layout: ResolvedLayout, factor: float) -> Any:
    """Per-group ``sum(x * factor)`` for a power-of-two ``factor``, kept broadcastable.

    When the group axes are the leading or the trailing axes (Dense, Conv and
    row groups), the groups are the rows or columns of a free reshape and the
    sum is a matrix-vector product with a constant vector of ``factor``: XLA's
    CPU backend runs it at memory speed, while a reduction of ``x * factor``
    is not fused and costs about one extra pass over ``x``. The scaling is
    exact either way.
    """
    axes, shape, n = layout.axes, layout.shape, layout.size
    if not axes:
        return x * factor
    rank = len(shape)
    leading = axes == tuple(range(len(axes)))
    trailing = axes == tuple(range(rank - len(axes), rank))
    if not (leading or trailing) or len(axes) == rank:
        return ops.sum(x * factor, axis=axes, keepdims=True)
    weights = ops.full((n,), factor, dtype=x.dtype)
    grouped = (1,) * len(axes)
    if leading:
        sums = ops.einsum("ij,i->j", ops.reshape(x, (n, -1)), weights)
        return ops.reshape(sums, grouped + tuple(shape[len(axes) :]))
    sums = ops.einsum("ij,j->i", ops.reshape(x, (-1, n)), weights)
    return ops.reshape(sums, tuple(shape[: rank - len(axes)]) + grouped)


def group_norm_parts(
    x: Any, axes: tuple[int, ...], *, infinite_as_largest: bool = False
) -> tuple[Any, Any, Any]:
    """Per-group Euclidean norm as ``peak * spread``, kept broadcastable.

    Returns ``(unit, spread, norm)`` with ``unit = x / peak`` in [-1, 1],
    ``spread = sqrt(sum(unit**2))`` and ``norm = peak * spread``, so that
    ``unit * (t / spread)`` rescales a group to norm ``t`` without any
    intermediate that can overflow. ``norm`` is 0 for a zero group, NaN for a
    group holding a NaN or inf, and ``inf`` when the true norm exceeds the
    dtype's range.

    Two ways to the same numbers: a group whose plain sum of squares is
    finite and far above the underflow threshold (the usual case) has
    ``peak = 1`` and ``spread = norm = sqrt(sum(x**2))``: one reduction.
    Other groups (a huge, tiny, inf or NaN entry) take ``peak = max|x|``, so
    the squares of ``x / peak`` can neither overflow nor underflow. The second
    way is computed only when some group needs it (``ops.cond``), and then
    for those groups alone: every other group's numbers are the same bits
    either way, so a NaN in one group cannot move another by an ulp.
    """
    if not axes:
        peak = ops.abs(x)
        nonzero = peak > 0
        one = ops.ones_like(peak)
        return ops.where(nonzero, ops.sign(x), one), one, peak
    dtype = backend.standardize_dtype(x.dtype)
    squares = ops.sum(ops.square(x), axis=axes, keepdims=True)
    size = 1
    for a in axes:
        size *= x.shape[a]
    # Squares below the smallest normal number are lost; n of them cost less
    # than one rounding of a sum above this threshold.
    smallest = 2.0 ** MIN_EXPONENT[dtype] * size / EPSILON[dtype]
    fine = ops.logical_and(squares >= smallest, squares < float("inf"))

    def direct() -> tuple[Any, Any, Any, Any]:
        norm = ops.sqrt(squares)
        return x, ops.ones_like(squares), norm, norm

    def scaled() -> tuple[Any, Any, Any, Any]:
        x_ = largest_for_infinite(x) if infinite_as_largest else x
        peak = ops.max(ops.abs(x_), axis=axes, keepdims=True)
        nonzero = peak > 0
        one = ops.ones_like(peak)
        # Divide by sqrt(peak) twice: XLA turns x / peak into x * (1 / peak),
        # and 1 / peak is subnormal (flushed to 0 on CPU) when peak is near
        # the dtype's maximum; 1 / sqrt(peak) is always a normal number.
        root = ops.where(fine, one, ops.sqrt(ops.where(nonzero, peak, one)))
        # sqrt only of positive numbers, even in the branches where() drops:
        # sqrt's derivative at 0 is inf, and inf * 0 poisons the gradient
        # of a zero group (a norm penalty on a column the simplex zeroed gave
        # NaN weights under XLA).
        spread = ops.sum(ops.square((x_ / root) / root), axis=axes, keepdims=True)
        spread = ops.sqrt(ops.where(nonzero, spread, one))
        spread = ops.where(
            fine, ops.sqrt(ops.where(fine, squares, one)), ops.where(nonzero, spread, one)
        )
        # max() skips NaN on some backends; x * 0 is NaN for a NaN or inf
        # entry, so a group holding one gets a NaN norm, not a zero one.
        poison = ops.sum(x_ * 0, axis=axes, keepdims=True)
        norm = ops.where(
            fine, spread, ops.where(nonzero, peak * spread, ops.zeros_like(peak)) + poison
        )
        return x_, root, spread, norm

    plain = ops.all(fine)
    x, root, spread, norm = ops.cond(plain, direct, scaled)
    return (x / root) / root, spread, norm


def first_entry_mask(layout: ResolvedLayout, dtype: str) -> Any:
    """1 at index 0 of every group axis, 0 elsewhere; broadcastable to the weight."""
    shape = layout.shape
    mask = ops.ones((1,) * len(shape), dtype=dtype)
    for a in layout.axes:
        along = ops.cast(ops.arange(shape[a]) == 0, dtype)
        mask = mask * ops.reshape(along, [shape[a] if i == a else 1 for i in range(len(shape))])
    return mask


def largest_for_infinite(x: Any) -> Any:
    """``x`` with ``inf`` and ``-inf`` read as the dtype's largest finite numbers.

    For a bounded set, the projection of the result is the limit of the
    projections along the infinite entries' ray (exactly where the
    projection is exact at that scale, else up to a residue of
    ``|w_i| / largest``). NaN stays NaN.
    """
    largest = ops.convert_to_tensor(LARGEST[backend.standardize_dtype(x.dtype)], x.dtype)
    return ops.clip(x, -largest, largest)


def minimum(a: Any, b: Any) -> Any:
    """``ops.minimum`` that keeps float64.

    Keras's minimum and maximum compute float64 in float32 on JAX and
    PyTorch (Keras 3.15 promotes types as JAX without x64 does); where()
    keeps it. For other dtypes they are one dispatch instead of two, and
    where() alone costs about 75 us on PyTorch's eager CPU path.
    """
    if backend.standardize_dtype(a.dtype) == "float64":
        return ops.where(a > b, b, a)
    return ops.minimum(a, b)


def maximum(a: Any, b: Any) -> Any:
    """``ops.maximum`` that keeps float64 (see ``minimum``)."""
    if backend.standardize_dtype(a.dtype) == "float64":
        return ops.where(a < b, b, a)
    return ops.maximum(a, b)


def cumsum(x: Any, axis: int = -1) -> Any:
    """``ops.cumsum`` that keeps float64.

    Keras computes PyTorch's float64 cumsum (and matmul) in float32
    (Keras 3.15); there, a product with the lower-triangular matrix of ones
    through ``einsum``, which keeps the dtype, adds the same terms in
    float64 (an ``n x n`` matrix: PyTorch only).
    """
    if backend.backend() != "torch" or backend.standardize_dtype(x.dtype) != "float64":
        return ops.cumsum(x, axis=axis)
    n = x.shape[axis]
    lower = ops.cast(ops.tril(ops.ones((n, n))), "float64")
    moved = ops.moveaxis(x, axis, -1)
    return ops.moveaxis(ops.einsum("...j,ij->...i", moved, lower), -1, axis)
