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


def float_dtype(w, owner: str) -> str:
    """The standardized dtype of ``w``; raise ``ValueError`` if not float."""
    dtype = backend.standardize_dtype(w.dtype)
    if not backend.is_float_dtype(dtype):
        raise ValueError(
            f"{owner} needs a floating-point weight; got dtype {dtype}. "
            "Integer and boolean weights cannot be projected."
        )
    return dtype


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


def group_sum(x, axes):
    """Per-group sum, kept broadcastable against ``x``."""
    return ops.sum(x, axis=axes, keepdims=True) if axes else x


def _show(axis):
    return list(axis) if isinstance(axis, tuple) else axis
