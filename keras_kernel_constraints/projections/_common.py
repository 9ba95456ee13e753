"""Argument handling shared by every projection."""

from __future__ import annotations

from keras_kernel_constraints import _groups

# Scalars go through convert_to_tensor(value, dtype=...), never ops.cast: a
# Python float cast by TensorFlow passes through float32 first, which would
# round a float64 bound such as 0.1.


def grouped(w, axis, owner):
    """``(w, dtype, shape, axes, n)``: the tensor, its dtype name, its static
    shape, the resolved group axes and the group size; errors name ``owner``."""
    w, dtype = _groups.float_tensor(w, owner)
    shape = _groups.static_shape(w)
    axes = _groups.group_axes(axis, shape, owner)
    return w, dtype, shape, axes, _groups.group_size(shape, axes, owner)
