"""Euclidean projections onto the orthant, a box and a sum hyperplane.

All functions are pure, use ``keras.ops`` only, branch on static shapes
only, and so trace under ``jit_compile=True`` on every Keras backend. The
elementwise projections are exact in the input's dtype; ``project_sum_to``
accumulates float16 and bfloat16 groups in float32 and casts back.
"""

from __future__ import annotations

import math

from keras import ops

from keras_kernel_constraints import _groups
from keras_kernel_constraints.projections._common import grouped


def project_non_negative(w):
    r"""Project onto the non-negative orthant.

    $$
    P(w) = \arg\min_{p \ge 0} \|p - w\|_2 = \max(w, 0)
    $$

    Elementwise, so every entry is its own group.

    Args:
        w: Floating-point tensor of any shape.

    Returns:
        Tensor of the same shape and dtype with every entry ``>= 0``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_non_negative(np.array([-1.5, 0.0, 2.0])))
        array([0., 0., 2.])
    """
    w, _ = _groups.float_tensor(w, "project_non_negative")
    # relu keeps the dtype on every backend; maximum(w, 0) promotes float64
    # to float32 outside TensorFlow (Keras's 64-to-32-bit promotion rule).
    return ops.relu(w)


def project_box(w, min_value, max_value):
    r"""Project onto the box $[\text{min\_value}, \text{max\_value}]$.

    $$
    P(w) = \min(\max(w, \ell), u)
    $$

    The box is a product of intervals, so clipping each entry is the exact
    Euclidean projection. Bounds are rounded to ``w``'s dtype, so the result
    lies in the box of representable bounds.

    Args:
        w: Floating-point tensor of any shape.
        min_value: Lower bound, a number or a tensor broadcastable to ``w``.
        max_value: Upper bound, a number or a tensor broadcastable to ``w``;
            must be ``>= min_value``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_box(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0))
        array([0. , 0.5, 1. ])
    """
    w, dtype = _groups.float_tensor(w, "project_box")
    # Bounds as tensors of w's dtype: clip with Python floats rounds them to
    # float32 on some backends, and minimum/maximum promote float64 to float32.
    lo = ops.convert_to_tensor(min_value, dtype=dtype)
    hi = ops.convert_to_tensor(max_value, dtype=dtype)
    return ops.clip(w, lo, hi)


def project_sum_to(w, value=1.0, axis=None):
    r"""Project each group onto the hyperplane $\{p : \sum_i p_i = s\}$.

    $$
    P(w)_g = w_g + \frac{s - \sum_{i \in g} w_i}{n_g}
    $$

    the nearest point with the required sum (the hyperplane's normal is the
    all-ones vector, so the correction is the same for every entry of a
    group). Entries may be negative or exceed ``s``; nothing is divided by a
    data-dependent value, so signs never flip and a zero sum is harmless.

    The group mean is accumulated as ``sum(w * 2**-k) * (2**k / n)`` with
    ``2**k >= n``: the power-of-two scaling is exact and keeps every partial
    sum below ``max|w|``, so finite inputs cannot overflow to NaN. Groups of
    one entry are set to ``s`` exactly; groups with no entries are returned
    as they are.

    Args:
        w: Floating-point tensor.
        value: Target sum ``s`` of every group: a number, or a tensor
            broadcastable to the per-group sums (group axes kept as size 1).
        axis: Axis or tuple of axes forming one group; ``None`` means every
            axis but the last (rank >= 2) or the whole tensor (rank <= 1).

    Returns:
        Tensor of the same shape and dtype as ``w``; each group sums to
        ``value`` up to rounding in ``w``'s dtype.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_sum_to(np.array([0.6, -0.59, 0.0]), 1.0))
        array([ 0.93, -0.26,  0.33])
    """
    w, dtype, shape, axes, n = grouped(w, axis, "project_sum_to")
    if _groups.is_empty(shape):
        return w
    if n == 1:
        return ops.broadcast_to(ops.convert_to_tensor(value, dtype=dtype), shape)
    acc = _groups.compute_dtype(dtype)
    x = ops.cast(w, acc)
    scale = 2.0 ** math.ceil(math.log2(n))
    scaled_sum = _groups.scaled_group_sum(x, axes, 1.0 / scale)
    target = ops.convert_to_tensor(value, dtype=acc)
    shift = (target * (1.0 / scale) - scaled_sum) * (scale / n)
    return ops.cast(x + shift, dtype)

