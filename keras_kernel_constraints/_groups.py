"""Groups: which entries of a weight are constrained together.

``axis`` is the axis, or tuple of axes, whose entries form one group (the
convention of ``keras.constraints.MaxNorm``). ``axis=None`` means "one group
per output unit": every axis except the last for a weight of rank >= 2, and
the whole tensor for a scalar or a vector.

====================  =====================  ==============================
layer                 kernel layout          ``axis=None`` groups
====================  =====================  ==============================
Dense                 (in, out)              one group per output unit
Conv1D / 2D / 3D      (*k, in, out)          one group per filter
Conv2DTranspose       (kh, kw, out, in)      one group per *input* channel
DepthwiseConv2D       (kh, kw, in, mult)     one group per multiplier index
Embedding             (vocab, dim)           one group per embedding column
bias / 1-D weight     (n,)                   the whole vector
====================  =====================  ==============================

For a transposed convolution, pass ``axis=(0, 1, 3)`` to get one group per
output filter; for depthwise kernels ``axis=(0, 1)`` gives one group per
spatial kernel; for Embedding rows, ``axis=-1``.
"""

from __future__ import annotations

import math

from keras import backend, ops

LOW_PRECISION = ("float16", "bfloat16")

# Machine epsilon (spacing of floats at 1) per dtype.
EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}
# Exponent of the smallest normal number per dtype.
_MIN_EXPONENT = {"float16": -14, "bfloat16": -126, "float32": -126, "float64": -1022}


def float_dtype(w, owner: str) -> str:
    """The standardized dtype of ``w``; raise ``ValueError`` if not float."""
    dtype = backend.standardize_dtype(w.dtype)
    if not backend.is_float_dtype(dtype):
        raise ValueError(
            f"{owner} needs a floating-point weight; got dtype {dtype}. "
            "Integer and boolean weights cannot be projected."
        )
    return dtype


def float_tensor(w, owner: str):
    """``w`` as a tensor and its dtype name; ``ValueError`` if not float."""
    w = ops.convert_to_tensor(w)
    return w, float_dtype(w, owner)


def compute_dtype(dtype: str) -> str:
    """Accumulation dtype: float32 for half precision, else ``dtype`` itself."""
    return "float32" if dtype in LOW_PRECISION else dtype


def static_shape(w) -> tuple:
    return tuple(w.shape)


def group_axes(axis, shape, owner: str = "constraint") -> tuple[int, ...]:
    """Resolve ``axis`` (None, int or tuple) to sorted non-negative axes.

    Raises ``ValueError`` naming ``axis`` and the weight's shape when an axis
    is out of range or two entries name the same axis.
    """
    rank = len(shape)
    if axis is None:
        return tuple(range(rank - 1)) if rank >= 2 else tuple(range(rank))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    resolved = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(
                f"{owner}: `axis`={_show(axis)} is out of range for a weight "
                f"of shape {shape} (rank {rank}); valid axes are "
                f"{-rank}..{rank - 1}."
                if rank
                else f"{owner}: `axis`={_show(axis)} is out of range for a "
                "scalar weight; use axis=None."
            )
        resolved.append(a % rank)
    if len(set(resolved)) != len(resolved):
        raise ValueError(
            f"{owner}: `axis`={_show(axis)} names the same axis twice for a "
            f"weight of rank {rank}."
        )
    return tuple(sorted(resolved))


def group_size(shape, axes, owner: str = "constraint") -> int:
    """Number of entries in one group; the group axes must be static."""
    dims = [shape[a] for a in axes]
    if any(d is None for d in dims):
        raise ValueError(
            f"{owner}: the group axes {axes} of a weight of shape {shape} "
            "must have a static size."
        )
    return math.prod(dims)


def is_empty(shape) -> bool:
    """Whether a weight of static ``shape`` has no entries at all."""
    return any(d == 0 for d in shape)


def group_sum(x, axes):
    """Per-group sum, kept broadcastable against ``x``."""
    return ops.sum(x, axis=axes, keepdims=True) if axes else x


def scaled_group_sum(x, axes, factor):
    """Per-group ``sum(x * factor)`` for a power-of-two ``factor``, kept broadcastable.

    When the group axes are the leading or the trailing axes (Dense, Conv and
    row groups), the groups are the rows or columns of a free reshape and the
    sum is a matrix-vector product with a constant vector of ``factor``: XLA's
    CPU backend runs it at memory speed, while a reduction of ``x * factor``
    is not fused and costs about one extra pass over ``x``. The scaling is
    exact either way.
    """
    if not axes:
        return x * factor
    shape = tuple(x.shape)
    rank, n = len(shape), group_size(shape, axes)
    leading = axes == tuple(range(len(axes)))
    trailing = axes == tuple(range(rank - len(axes), rank))
    if not (leading or trailing) or len(axes) == rank:
        return ops.sum(x * factor, axis=axes, keepdims=True)
    weights = ops.full((n,), factor, dtype=x.dtype)
    kept = [1 if a in axes else d for a, d in enumerate(shape)]
    if leading:
        sums = ops.einsum("ij,i->j", ops.reshape(x, (n, -1)), weights)
    else:
        sums = ops.einsum("ij,j->i", ops.reshape(x, (-1, n)), weights)
    return ops.reshape(sums, kept)


def _show(axis):
    return list(axis) if isinstance(axis, tuple) else axis


def to_rows(x, axes, shape):
    """Move the group axes last and flatten: a ``(groups, n)`` matrix.

    Returns the matrix and a function that maps a matrix of the same shape
    back to ``shape``. Shapes are static, so both are free reshapes plus one
    transpose each under XLA.
    """
    others = [a for a in range(len(shape)) if a not in axes]
    perm = others + list(axes)
    n = group_size(shape, axes)
    rows = ops.reshape(ops.transpose(x, perm), (-1, n))
    moved_shape = tuple(shape[a] for a in perm)
    inverse = [perm.index(a) for a in range(len(shape))]

    def restore(r):
        return ops.transpose(ops.reshape(r, moved_shape), inverse)

    return rows, restore


def group_norm_parts(x, axes):
    """Per-group Euclidean norm as ``peak * spread``, kept broadcastable.

    Returns ``(unit, spread, norm)`` with ``unit = x / peak`` in [-1, 1],
    ``spread = sqrt(sum(unit**2))`` and ``norm = peak * spread``, so that
    ``unit * (t / spread)`` rescales a group to norm ``t`` without any
    intermediate that can overflow. ``norm`` is 0 for a zero group, NaN for a
    group holding a NaN or inf, and ``inf`` when the true norm exceeds the
    dtype's range.

    Two ways to the same numbers: when every group's plain sum of squares is
    finite and far above the underflow threshold (the usual case), ``peak``
    is 1 and ``spread = norm = sqrt(sum(x**2))``: one reduction. Otherwise
    (``ops.cond``, so only then) ``peak = max|x|`` and the squares of
    ``x / peak`` can neither overflow nor underflow.
    """
    if not axes:
        peak = ops.abs(x)
        nonzero = peak > 0
        one = ops.ones_like(peak)
        return ops.where(nonzero, ops.sign(x), one), one, peak
    dtype = backend.standardize_dtype(x.dtype)
    squares = ops.sum(ops.square(x), axis=axes, keepdims=True)
    # Squares below the smallest normal number are lost; n of them cost less
    # than one rounding of a sum above this threshold.
    smallest = 2.0 ** _MIN_EXPONENT[dtype] * group_size(tuple(x.shape), axes) / EPSILON[dtype]
    plain = ops.all(ops.logical_and(squares >= smallest, squares < float("inf")))

    def direct():
        norm = ops.sqrt(squares)
        return ops.ones_like(squares), norm, norm

    def scaled():
        peak = ops.max(ops.abs(x), axis=axes, keepdims=True)
        nonzero = peak > 0
        safe = ops.where(nonzero, peak, ops.ones_like(peak))
        # Divide by sqrt(peak) twice: XLA turns x / peak into x * (1 / peak),
        # and 1 / peak is subnormal (flushed to 0 on CPU) when peak is near
        # the dtype's maximum; 1 / sqrt(peak) is always a normal number.
        root = ops.sqrt(safe)
        spread = ops.sqrt(ops.sum(ops.square((x / root) / root), axis=axes, keepdims=True))
        spread = ops.where(nonzero, spread, ops.ones_like(spread))
        # max() skips NaN on some backends; x * 0 is NaN for a NaN or inf
        # entry, so a group holding one gets a NaN norm, not a zero one.
        poison = ops.sum(x * 0, axis=axes, keepdims=True)
        norm = ops.where(nonzero, peak * spread, ops.zeros_like(peak)) + poison
        return root, spread, norm

    root, spread, norm = ops.cond(plain, direct, scaled)
    return (x / root) / root, spread, norm


def group_norm(x, axes):
    """Per-group Euclidean norm, kept broadcastable (see ``group_norm_parts``)."""
    return group_norm_parts(x, axes)[2]


def first_entry_mask(shape, axes, dtype):
    """1 at index 0 of every group axis, 0 elsewhere; broadcastable to ``shape``."""
    mask = ops.ones((1,) * len(shape), dtype=dtype)
    for a in axes:
        along = ops.cast(ops.arange(shape[a]) == 0, dtype)
        mask = mask * ops.reshape(along, [shape[a] if i == a else 1 for i in range(len(shape))])
    return mask
