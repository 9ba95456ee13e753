"""Euclidean projection onto monotone sequences, optionally boxed and with steps.

Every 1-D slice along ``axis`` is one group. The slices are moved last and
flattened into a ``(groups, n)`` matrix and solved together by the batched,
exact isotonic regression in ``._isotonic`` (static shapes, no host
callback, ``O(n log n)`` work and ``O(n)`` memory per slice).
"""

from __future__ import annotations

from keras import ops

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints.projections._isotonic import isotonic_rows


def project_monotone(
    w, axis=0, increasing=True, min_value=None, max_value=None, min_step=0.0
):
    r"""Project every slice along ``axis`` onto the ordered sequences.

    For ``increasing=True`` and a slice $w \in \mathbb{R}^n$:

    $$
    P(w) = \arg\min_p \|p - w\|_2 \quad \text{s.t.} \quad
    p_{i+1} - p_i \ge \delta, \quad \ell \le p_i \le u
    $$

    with $\delta$ = ``min_step``, $\ell$ = ``min_value`` and
    $u$ = ``max_value``. Computed exactly, in three steps:

    1. Substitute $z_i = p_i - i\delta$, which turns the steps into
       plain order $z_{i+1} \ge z_i$ (a translation, so distances are
       unchanged) and, for ordered $z$, the box into the constant box
       $\ell \le z_i \le u - (n-1)\delta$.
    2. Isotonic regression of $w_i - i\delta$: the pool-adjacent-
       violators solution (Ayer et al., 1955; Barlow et al., 1972), computed
       by batched divide and conquer (see ``_isotonic``).
    3. Clip to the constant box (clipping an isotonic solution is the
       projection onto its intersection with a box) and add $i\delta$
       back.

    ``increasing=False`` projects the reversed slice. Slices that already
    satisfy the order (and ``min_step=0``, no bounds) come back bit for bit.
    float16 and bfloat16 are computed in float32.

    Args:
        w: Floating-point tensor of rank >= 1.
        axis: The one axis along which entries are ordered (an int). The
            other axes are batch axes: every slice is projected on its own.
        increasing: ``True`` for non-decreasing slices, ``False`` for
            non-increasing ones.
        min_value: Lower bound for every entry, or ``None``.
        max_value: Upper bound for every entry, or ``None``.
        min_step: Smallest allowed difference between neighbours, ``>= 0``
            (in the direction of the order).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Raises:
        ValueError: for a scalar ``w``, an ``axis`` out of range, a negative
            ``min_step``, ``min_value > max_value``, or bounds too close for
            ``n - 1`` steps of ``min_step``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_monotone(np.array([1.0, 3.0, 2.0, 4.0])))
        array([1. , 2.5, 2.5, 4. ])
        >>> np.asarray(project_monotone(np.array([0.5, -1.0, 2.0]), min_value=0.0))
        array([0., 0., 2.])
    """
    owner = "project_monotone"
    w, dtype = _groups.float_tensor(w, owner)
    shape = _groups.static_shape(w)
    axis = monotone_axis(axis, shape, owner)
    n = shape[axis]
    min_value, max_value, min_step = monotone_bounds(min_value, max_value, min_step, n, owner)
    if _groups.is_empty(shape):
        return w
    acc = _groups.compute_dtype(dtype)
    rows, restore = _groups.to_rows(ops.cast(w, acc), (axis,), shape)
    if not increasing:
        rows = ops.flip(rows, axis=-1)
    steps = None
    if min_step > 0 and n > 1:
        steps = ops.convert_to_tensor(min_step, dtype=acc) * ops.arange(n, dtype=acc)
        rows = rows - steps
    rows = isotonic_rows(rows)
    rows = _clip(rows, min_value, max_value, (n - 1) * min_step, dtype, acc)
    if steps is not None:
        # Clip again so adding the steps back cannot round past a bound.
        rows = _clip(rows + steps, min_value, max_value, 0.0, dtype, acc)
    if not increasing:
        rows = ops.flip(rows, axis=-1)
    return ops.cast(restore(rows), dtype)


def monotone_axis(axis, shape, owner):
    """The ordering axis as a non-negative int; ``ValueError`` if it does not fit."""
    try:
        _validation.ordered_axis(axis)
    except ValueError as error:
        raise ValueError(f"{owner}: {error}") from None
    if not shape:
        raise ValueError(
            f"{owner} needs a weight of rank >= 1 (there is nothing to order "
            "in a scalar); got a scalar."
        )
    return _groups.group_axes(axis, shape, owner)[0]


def monotone_bounds(min_value, max_value, min_step, n=None, owner="Monotone"):
    """Check bounds and ``min_step``; with the slice length ``n``, also that
    ``n - 1`` steps fit between the bounds. Returns the normalised values."""
    min_step = _validation.non_negative_number(min_step, "min_step")
    if min_value is not None:
        min_value = _validation.finite_number(min_value, "min_value")
    if max_value is not None:
        max_value = _validation.finite_number(max_value, "max_value")
    if min_value is not None and max_value is not None:
        _validation.ordered_bounds(min_value, max_value)
        span = (n - 1) * min_step if n else 0.0
        # Relative slack: (n - 1) * min_step may round just past an exact fit.
        if max_value - min_value < span * (1 - 1e-12):
            raise ValueError(
                f"{owner}: `min_step`={min_step} is infeasible: {n} ordered entries need "
                f"max_value - min_value >= {n - 1} * min_step = {(n - 1) * min_step}, "
                f"but min_value={min_value}, max_value={max_value}."
            )
    return min_value, max_value, min_step


def _clip(rows, min_value, max_value, span, dtype, acc):
    """Clip to ``[min_value, max_value - span]``, bounds rounded to ``dtype``."""

    def bound(value):
        # Round to the weight's dtype first, like project_box, so results
        # lie within the representable bounds after the cast back.
        return ops.cast(ops.convert_to_tensor(value, dtype=dtype), acc)

    if min_value is None and max_value is None:
        return rows
    # clip with tensor bounds keeps float64 on every backend; a missing bound
    # is infinite, which leaves every finite entry unchanged.
    lower = bound(-float("inf") if min_value is None else min_value)
    upper = bound(float("inf") if max_value is None else max_value)
    if span:
        # Never below the lower bound, even where the span rounds past it.
        upper = upper - ops.convert_to_tensor(span, dtype=acc)
        upper = ops.where(upper < lower, lower, upper)
    return ops.clip(rows, lower, upper)
