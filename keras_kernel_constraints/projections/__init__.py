"""Pure projection functions: ``w -> argmin_{p in C} ||p - w||``.

One function per set of ``keras_kernel_constraints.sets``, with the set's
parameters in the same order and with the same defaults. Each validates
every argument (the same ``ValueError`` as the set, naming the function),
returns a tensor of ``w``'s shape and dtype, uses ``keras.ops`` only and
compiles under XLA. The sets' pages hold the math and the algorithms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import dtypes
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.params import is_plain_int, legacy_positional
from keras_kernel_constraints.sets.affine import shift_to_sum

__all__ = [
    "project_box",
    "project_capped_simplex",
    "project_concave",
    "project_convex",
    "project_doubly_stochastic",
    "project_intersection",
    "project_l1_ball",
    "project_l2_ball",
    "project_l2_sphere",
    "project_linf_ball",
    "project_monotone",
    "project_non_negative",
    "project_norm_band",
    "project_orthogonal",
    "project_psd",
    "project_simplex",
    "project_spectral_ball",
    "project_sum_to",
    "project_symmetric",
    "project_unimodal",
]


def project_non_negative(w: Any) -> Any:
    """Project onto the non-negative orthant (``sets.NonNegative``): ``max(w, 0)``.

    Args:
        w: Floating-point tensor of any shape.

    Returns:
        Tensor of the same shape and dtype with every entry ``>= 0``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_non_negative(np.array([-1.5, 0.0, 2.0])))
        array([0., 0., 2.])
    """
    return sets.NonNegative().project(w, owner="project_non_negative")


def project_box(w: Any, min_value: Any = None, max_value: Any = None) -> Any:
    """Project onto the box ``[min_value, max_value]`` (``sets.Box``): ``clip``.

    Args:
        w: Floating-point tensor of any shape.
        min_value: Lower bound: a number, ``None`` (or ``-inf``) for none, an
            array of bounds (nested lists or NumPy) broadcastable to ``w``,
            checked as ``sets.Box`` checks it, or a tensor broadcastable to
            ``w`` (not checked: its values are not known when tracing).
        max_value: Upper bound, ``>= min_value``: a number, ``None`` (or
            ``inf``) for none, an array or a tensor.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_box(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0))
        array([0. , 0.5, 1. ])
    """
    owner = "project_box"
    if not (_is_tensor(min_value) or _is_tensor(max_value)):
        return sets.Box(min_value, max_value).project(w, owner=owner)
    w, dtype = dtypes.float_tensor(w, owner)
    open_sides = {"min_value": -math.inf, "max_value": math.inf}
    lo, hi = (
        ops.convert_to_tensor(open_sides[name] if v is None else v, dtype=dtype)
        for name, v in (("min_value", min_value), ("max_value", max_value))
    )
    return ops.clip(w, lo, hi)


@legacy_positional(("value", "axis"))
def project_sum_to(w: Any, value: Any = 1.0, *, axis: AxisLike = None) -> Any:
    """Project every group onto the hyperplane ``sum(w_g) = value`` (``sets.SumTo``).

    Every entry of a group moves by ``(value - sum(w_g)) / n``: signs never
    flip and a zero sum is harmless.

    Args:
        w: Floating-point tensor.
        value: Target sum of every group: a finite number, an array of one
            per group (nested lists or NumPy, shaped like the group sums with
            the group axes kept as size 1; checked as ``sets.SumTo`` checks
            it), or a tensor of that shape (not checked).
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
    owner = "project_sum_to"
    if not _is_tensor(value):
        return sets.SumTo(value, axis=axis).project(w, owner=owner)
    w, dtype = dtypes.float_tensor(w, owner)
    layout = sets.SumTo(axis=axis).resolve(tuple(w.shape), dtype, owner)
    if layout.empty:
        return w
    target = ops.convert_to_tensor(value, dtype=layout.compute_dtype)
    x = ops.cast(w, layout.compute_dtype)
    return ops.cast(shift_to_sum(x, layout, target), dtype)


@legacy_positional(("value", "axis"))
def project_simplex(w: Any, value: float = 1.0, *, axis: AxisLike = None) -> Any:
    """Project every group onto the simplex ``{p >= 0, sum(p) = value}`` (``sets.Simplex``).

    Args:
        w: Floating-point tensor.
        value: Positive sum of every group.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``: non-negative, each group
        summing to ``value`` up to rounding.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_simplex(np.array([0.5, 1.5, -1.0]), 1.0))
        array([0., 1., 0.])
    """
    return sets.Simplex(value, axis=axis).project(w, owner="project_simplex")


@legacy_positional(("value", "min_value", "max_value", "axis"))
def project_capped_simplex(
    w: Any,
    value: float = 1.0,
    min_value: Any = 0.0,
    max_value: Any = 1.0,
    *,
    axis: AxisLike = None,
) -> Any:
    """Project every group onto ``{min_value <= p_i <= max_value, sum(p) = value}``
    (``sets.CappedSimplex``).

    Args:
        w: Floating-point tensor.
        value: Target sum of every group.
        min_value: Lower bound of every entry, or an array of per-entry bounds
            broadcastable to ``w`` (as for ``sets.CappedSimplex``).
        max_value: Upper bound of every entry, ``>= min_value``, or an array.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Raises:
        ValueError: if ``n * min_value > value`` or ``n * max_value < value``
            for the group size ``n`` (the set is empty).

    Example:

        >>> import numpy as np
        >>> np.asarray(project_capped_simplex(np.array([3.0, 1.0, 0.0]), 1.0, 0.0, 0.6))
        array([0.6, 0.4, 0. ])
    """
    return sets.CappedSimplex(value, min_value, max_value, axis=axis).project(
        w, owner="project_capped_simplex"
    )


@legacy_positional(("radius", "axis"))
def project_l1_ball(w: Any, radius: float = 1.0, *, axis: AxisLike = None) -> Any:
    """Project every group onto the l1 ball ``{||p||_1 <= radius}`` (``sets.L1Ball``).

    Args:
        w: Floating-point tensor.
        radius: Positive radius.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``; groups inside the ball
        are returned unchanged.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_l1_ball(np.array([2.0, -1.0, 0.0]), 1.0))
        array([ 1., -0.,  0.])
    """
    return sets.L1Ball(radius, axis=axis).project(w, owner="project_l1_ball")


@legacy_positional(("radius", "axis"))
def project_l2_ball(w: Any, radius: float = 1.0, *, axis: AxisLike = None) -> Any:
    """Project every group onto the l2 ball ``{||p||_2 <= radius}`` (``sets.L2Ball``).

    Args:
        w: Floating-point tensor.
        radius: Positive radius.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``; groups inside the ball
        are returned bit for bit.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_l2_ball(np.array([3.0, 4.0]), 1.0))
        array([0.6, 0.8])
    """
    return sets.L2Ball(radius, axis=axis).project(w, owner="project_l2_ball")


@legacy_positional(("radius", "axis"))
def project_l2_sphere(w: Any, radius: float = 1.0, *, axis: AxisLike = None) -> Any:
    """Project every group onto the sphere ``{||p||_2 = radius}`` (``sets.Sphere``).

    Args:
        w: Floating-point tensor.
        radius: Positive radius.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``; a group of zeros maps to
        ``radius`` at index 0 of every group axis.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_l2_sphere(np.array([0.0, 0.0]), 2.0))
        array([2., 0.])
    """
    return sets.Sphere(radius, axis=axis).project(w, owner="project_l2_sphere")


@legacy_positional(("min_norm", "max_norm", "axis"))
def project_norm_band(
    w: Any, min_norm: float = 0.0, max_norm: float = 1.0, *, axis: AxisLike = None
) -> Any:
    """Project every group onto ``{min_norm <= ||p||_2 <= max_norm}`` (``sets.NormBand``).

    Args:
        w: Floating-point tensor.
        min_norm: Smallest allowed norm, ``>= 0``.
        max_norm: Largest allowed norm, ``> 0`` and ``>= min_norm``.
        axis: Groups, as for ``project_sum_to``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_norm_band(np.array([0.3, 0.4]), 1.0, 2.0))
        array([0.6, 0.8])
    """
    return sets.NormBand(min_norm, max_norm, axis=axis).project(w, owner="project_norm_band")


def project_linf_ball(w: Any, radius: float = 1.0) -> Any:
    """Project onto the l-infinity ball ``{|p_i| <= radius}`` (``sets.LinfBall``).

    Args:
        w: Floating-point tensor.
        radius: Positive radius.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_linf_ball(np.array([-3.0, 0.5]), 1.0))
        array([-1. ,  0.5])
    """
    return sets.LinfBall(radius).project(w, owner="project_linf_ball")


# 0.1.0 took (w, axis, increasing, ...): an int (not a bool) second is an axis.
@legacy_positional(
    ("axis", "increasing", "min_value", "max_value", "min_step"),
    when=lambda args: len(args) > 1 and is_plain_int(args[1]),
)
def project_monotone(
    w: Any,
    increasing: bool = True,
    *,
    min_value: float | Any | None = None,
    max_value: float | Any | None = None,
    min_step: float = 0.0,
    axis: int = 0,
) -> Any:
    """Project every slice along ``axis`` onto the ordered sequences (``sets.Monotone``).

    Exact: the pool-adjacent-violators solution of every slice (batched),
    clipped to the bounds, with the steps substituted away; with per-entry
    bounds, each pooled block's mean clipped to the block's bounds.

    Args:
        w: Floating-point tensor of rank >= 1.
        increasing: ``True`` for non-decreasing slices, ``False`` for
            non-increasing ones.
        min_value: Lower bound for every entry, an array of them (nested
            lists or NumPy, broadcastable to ``w`` as ``sets.Monotone``
            checks it), or ``None``.
        max_value: Upper bound for every entry, an array of them, or ``None``.
        min_step: Smallest allowed difference between neighbours, ``>= 0``.
        axis: The one axis along which entries are ordered (an int).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Raises:
        ValueError: for a scalar ``w``, an ``axis`` out of range, a negative
            ``min_step``, ``min_value > max_value``, bounds too close for
            ``n - 1`` steps of ``min_step``, or per-entry bounds that do not
            broadcast to ``w`` or leave a slice no ordered point.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_monotone(np.array([1.0, 3.0, 2.0, 4.0])))
        array([1. , 2.5, 2.5, 4. ])
        >>> np.asarray(project_monotone(np.array([0.5, -1.0, 2.0]), min_value=0.0))
        array([0., 0., 2.])
    """
    monotone = sets.Monotone(
        increasing, min_value=min_value, max_value=max_value, min_step=min_step, axis=axis
    )
    return monotone.project(w, owner="project_monotone")


def _is_array(value: Any) -> bool:
    """A tensor or array of rank >= 1 (per-entry bounds or per-group targets).

    Everything else, scalars and wrong types alike, goes to the set, which
    checks it and names the parameter.
    """
    return len(getattr(value, "shape", ())) > 0


def _is_tensor(value: Any) -> bool:
    """A tensor of rank >= 1: a NumPy array is a constant the sets check."""
    return _is_array(value) and not isinstance(value, np.ndarray)


def project_orthogonal(w: Any, *, axis: AxisLike = None, batch_axis: AxisLike = None) -> Any:
    """Project every matrix onto orthonormal columns (rows, if wide): the polar
    factor (``sets.Orthogonal``).

    Args:
        w: Floating-point tensor of rank >= 2.
        axis: Rows of each matrix; ``None`` means every axis but the last
            and the batch axes.
        batch_axis: Axes indexing separate matrices.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> q = np.asarray(project_orthogonal(np.array([[3.0, 1.0], [1.0, 2.0], [0.0, 1.0]])))
        >>> np.allclose(q.T @ q, np.eye(2))
        True
    """
    the_set = sets.Orthogonal(axis=axis, batch_axis=batch_axis)
    return the_set.project(w, owner="project_orthogonal")


def project_spectral_ball(
    w: Any, max_value: float = 1.0, *, axis: AxisLike = None, batch_axis: AxisLike = None
) -> Any:
    """Project every matrix onto ``{||W||_2 <= max_value}``: its singular values
    clipped (``sets.SpectralBall``).

    Args:
        w: Floating-point tensor of rank >= 2.
        max_value: Largest singular value, ``> 0``.
        axis: Rows of each matrix, as for ``project_orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(project_spectral_ball(np.diag([4.0, 1.0]), 2.0)), 6)
        array([[2., 0.],
               [0., 1.]])
    """
    the_set = sets.SpectralBall(max_value, axis=axis, batch_axis=batch_axis)
    return the_set.project(w, owner="project_spectral_ball")


def project_symmetric(w: Any, *, axis: AxisLike = None, batch_axis: AxisLike = None) -> Any:
    """Project every square matrix onto the symmetric ones: ``(W + Wᵀ) / 2``
    (``sets.Symmetric``).

    Args:
        w: Floating-point tensor of rank >= 2.
        axis: Rows of each matrix, as for ``project_orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_symmetric(np.array([[0.0, 2.0], [0.0, 0.0]])))
        array([[0., 1.],
               [1., 0.]])
    """
    the_set = sets.Symmetric(axis=axis, batch_axis=batch_axis)
    return the_set.project(w, owner="project_symmetric")


def project_psd(
    w: Any,
    min_eigenvalue: float = 0.0,
    trace: float | None = None,
    *,
    axis: AxisLike = None,
    batch_axis: AxisLike = None,
) -> Any:
    """Project every square matrix onto the symmetric ones with eigenvalues
    ``>= min_eigenvalue`` (and trace ``trace``, if given) (``sets.PSD``).

    Args:
        w: Floating-point tensor of rank >= 2.
        min_eigenvalue: Smallest eigenvalue (finite).
        trace: ``None`` or the trace of every matrix.
        axis: Rows of each matrix, as for ``project_orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(project_psd(np.array([[2.0, 0.0], [0.0, -1.0]]), 0.5)), 6)
        array([[2. , 0. ],
               [0. , 0.5]])
    """
    the_set = sets.PSD(min_eigenvalue, trace, axis=axis, batch_axis=batch_axis)
    return the_set.project(w, owner="project_psd")


def project_doubly_stochastic(w: Any, *, axis: AxisLike = None, batch_axis: AxisLike = None) -> Any:
    """Project every square matrix onto the doubly stochastic ones: non-negative,
    every row and column summing to 1 (``sets.DoublyStochastic``).

    Args:
        w: Floating-point tensor of rank >= 2.
        axis: Rows of each matrix, as for ``project_orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(project_doubly_stochastic(np.array([[1.0, 2.0], [0.0, 0.0]]))), 6)
        array([[0.25, 0.75],
               [0.75, 0.25]])
    """
    the_set = sets.DoublyStochastic(axis=axis, batch_axis=batch_axis)
    return the_set.project(w, owner="project_doubly_stochastic")


def project_intersection(w: Any, *sets_: Any, sweeps: int = 1000, method: str = "auto") -> Any:
    """Project onto the weights in every one of several sets (``sets.Intersect``):
    exact rules where they exist, Dykstra's algorithm otherwise.

    Args:
        w: Floating-point tensor.
        *sets_: The sets or constraints to intersect.
        sweeps: Most Dykstra sweeps.
        method: ``"auto"`` or ``"dykstra"``.

    Returns:
        Tensor of the same shape and dtype.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_intersection(np.array([7.0, -3.0, 0.0]),
        ...                                 sets.SumTo(1.0), sets.Box(-1.0, 5.0)))
        array([ 3., -1., -1.])
    """
    the_set = sets.Intersect(*sets_, sweeps=sweeps, method=method)
    return the_set.project(w, owner="project_intersection")


def project_unimodal(w: Any, mode: int | None = None, *, axis: int = 0) -> Any:
    """Project every slice along ``axis`` onto the sequences rising to one peak,
    then falling (``sets.Unimodal``).

    Args:
        w: Floating-point tensor of rank >= 1.
        mode: ``None`` for a free peak (the best of the prefix/suffix splits),
            or the peak's index.
        axis: The axis of the sequence (an int).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_unimodal(np.array([0.0, 2.0, 1.0, 3.0, 0.0])))
        array([0. , 1.5, 1.5, 3. , 0. ])
    """
    return sets.Unimodal(mode, axis=axis).project(w, owner="project_unimodal")


def project_convex(w: Any, *, axis: int = 0) -> Any:
    """Project every slice along ``axis`` onto the convex sequences (``sets.Convex``).

    Exact: a batched active-set solve of the dual non-negative least squares.

    Args:
        w: Floating-point tensor of rank >= 1.
        axis: The axis of the sequence (an int).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_convex(np.array([0.0, 3.0, 0.0, 3.0])))
        array([1., 1., 1., 3.])
    """
    return sets.Convex(axis=axis).project(w, owner="project_convex")


def project_concave(w: Any, *, axis: int = 0) -> Any:
    """Project every slice along ``axis`` onto the concave sequences (``sets.Concave``).

    Args:
        w: Floating-point tensor of rank >= 1.
        axis: The axis of the sequence (an int).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_concave(np.array([3.0, 0.0, 3.0, 0.0])))
        array([2., 2., 2., 0.])
    """
    return sets.Concave(axis=axis).project(w, owner="project_concave")
