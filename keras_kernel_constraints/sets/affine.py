"""The non-negative orthant, boxes and sum hyperplanes.

The elementwise projections are exact in every dtype; the sum hyperplane
accumulates float16 and bfloat16 groups in float32.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import KW_ONLY
from typing import Any

import numpy as np
from keras import ops

from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.layout import AxisLike, Elementwise, Groups, Layout
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set, tangent_at_bounds


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class NonNegative(Set):
    r"""The non-negative orthant.

    $$
    C = \{w : w_i \ge 0\}, \qquad P(w) = \max(w, 0)
    $$

    Elementwise: every entry is its own group; exact in every dtype.

    Example:

        >>> import numpy as np
        >>> np.asarray(NonNegative().project(np.array([-1.5, 0.0, 2.0])))
        array([0., 0., 2.])
    """

    @property
    def layout(self) -> Layout:
        return Elementwise()

    def _project(self, x: Any, layout: Resolved) -> Any:
        # relu keeps the dtype on every backend; maximum(x, 0) promotes float64
        # to float32 outside TensorFlow (Keras's 64-to-32-bit promotion rule).
        return ops.relu(x)

    def _distance(self, x: Any, layout: Resolved) -> Any:
        return ops.relu(-x)

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        return tangent_at_bounds(x, g, ops.zeros_like(x), ops.full_like(x, math.inf))


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Box(Set):
    r"""The box $[\ell, u]$ for every entry; either side may be open, and either
    bound may differ per entry.

    $$
    C = \{w : \ell_i \le w_i \le u_i\}, \qquad P(w) = \min(\max(w, \ell), u)
    $$

    A product of intervals, so clipping each entry is the exact Euclidean
    projection. Bounds are rounded to the weight's dtype, so the result lies
    in the box of representable bounds. One-sided boxes say "at least" or
    "at most": ``Box(min_value=1e-3)`` keeps a scale or a variance strictly
    positive (``NonNeg`` allows exactly 0).

    **Per-entry bounds.** A bound may be an array (nested lists, or a NumPy
    array) shaped like the weight or like a trailing slice of it, NumPy's
    broadcasting rule: for a ``Dense`` kernel of shape ``(inputs, units)``,
    shape ``(units,)`` bounds each output unit and ``(inputs, 1)`` each
    input; for a ``Conv2D`` kernel, ``(3, 3, 1, 1)`` bounds each tap. An
    entry of ``-inf`` in ``min_value`` (``inf`` in ``max_value``) leaves that
    entry open on that side. Arrays are stored in the config as nested
    lists; a weight they do not broadcast to raises ``ValueError`` on first
    use, naming the bound and both shapes.

    Args:
        min_value: Lower bound $\ell$: a number, an array of them, or ``None``
            (or ``-inf``): no lower bound.
        max_value: Upper bound $u \ge \ell$ (at every entry): a number, an
            array of them, or ``None`` (or ``inf``): no upper bound.

    ``Box()`` with neither bound keeps its 0.1.0 meaning, ``[0, 1]``, with a
    ``DeprecationWarning`` (a bound is required from 0.3.0). In 0.1.0 an
    omitted bound meant 0 or 1: ``Box(max_value=5)`` was ``[0, 5]`` and is now
    ``(-inf, 5]``. Saved configs always hold both bounds, so saved models keep
    their meaning.

    Example:

        >>> import numpy as np
        >>> np.asarray(Box(0.0, 1.0).project(np.array([-2.0, 0.5, 3.0])))
        array([0. , 0.5, 1. ])
        >>> np.asarray(Box(min_value=0.5).project(np.array([-2.0, 0.0, 3.0])))
        array([0.5, 0.5, 3. ])

        One interval per column:

        >>> box = Box([0.0, -1.0], [1.0, np.inf])
        >>> np.asarray(box.project(np.array([[2.0, 2.0], [-2.0, -2.0]])))
        array([[ 1.,  2.],
               [ 0., -1.]])
    """

    min_value: float | tuple | None = None
    max_value: float | tuple | None = None

    def __post_init__(self) -> None:
        lo, hi = validation.entry_interval(
            self.min_value, self.max_value, owner=type(self).__name__
        )
        self._normalize(min_value=lo, max_value=hi)

    @property
    def per_entry(self) -> bool:
        """Whether a bound is an array (one per entry) rather than one number."""
        return isinstance(self.min_value, tuple) or isinstance(self.max_value, tuple)

    @property
    def layout(self) -> Layout:
        return Elementwise()

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        for name in ("min_value", "max_value"):
            validation.entry_bound_fits(getattr(self, name), name, layout.shape, owner)

    def _project(self, x: Any, layout: Resolved) -> Any:
        # Bounds as tensors: clip with Python floats rounds them to float32 on
        # some backends, and minimum/maximum promote float64 to float32. An
        # open side is an infinite bound: clip leaves every value below it.
        lo, hi = self._bounds(layout)
        return ops.clip(x, lo, hi)

    def _distance(self, x: Any, layout: Resolved) -> Any:
        lo, hi = self._bounds(layout)
        # ops.subtract: a penalty may hand over a NumPy array, which cannot
        # subtract a PyTorch tensor.
        below = 0.0 if self.min_value is None else ops.relu(ops.subtract(lo, x))
        above = 0.0 if self.max_value is None else ops.relu(ops.subtract(x, hi))
        return ops.zeros_like(x) + below + above

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        return tangent_at_bounds(x, g, *self._bounds(layout))

    def _bounds(self, layout: Resolved) -> tuple[Any, Any]:
        lo = -math.inf if self.min_value is None else self.min_value
        hi = math.inf if self.max_value is None else self.max_value
        return layout.bound(lo), layout.bound(hi)


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SumTo(Set):
    r"""Every group sums to $s$; the entries are otherwise free.

    $$
    C = \left\{w : \sum_{i \in g} w_i = s\ \ \forall g\right\}, \qquad
    P(w)_g = w_g + \frac{s - \sum_{i \in g} w_i}{n_g}
    $$

    The nearest point with the required sum: the hyperplane's normal is the
    all-ones vector, so every entry of a group moves by the same amount.
    Entries may be negative or exceed $s$ (a sharpening kernel
    ``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` is feasible); nothing is divided by a
    data-dependent value, so signs never flip and a zero sum is harmless.

    The group sum is accumulated as ``sum(w * 2**-k) * (2**k / n)`` with
    ``2**k >= n``: the power-of-two scaling is exact and keeps every partial
    sum below ``max|w|``, so finite inputs cannot overflow to NaN. Groups of
    one entry are set to $s$ exactly.

    **Per-group targets.** ``value`` may be an array, one target per group,
    shaped like the group sums with the group axes kept as 1 (or a trailing
    slice of that shape): for a ``Dense`` kernel of shape ``(inputs, units)``
    with the default groups, shape ``(units,)``; for a ``Conv2D`` kernel with
    ``axis=(0, 1)``, ``(channels_out,)`` or ``(channels_in, channels_out)``.
    It is stored in the config as nested lists and checked against the
    weight on first use.

    Args:
        value: Finite target sum $s$ of every group, or an array of them.
        axis: Axis or tuple of axes forming one group; ``None`` means every
            axis but the last (rank >= 2: one group per output unit) or the
            whole tensor (rank <= 1).

    Example:

        >>> import numpy as np
        >>> np.asarray(SumTo(1.0).project(np.array([0.6, -0.59, 0.0])))
        array([ 0.93, -0.26,  0.33])

        Columns summing to 1 and to -1:

        >>> np.asarray(SumTo([1.0, -1.0]).project(np.array([[1.0, 1.0], [1.0, 1.0]])))
        array([[ 0.5, -0.5],
               [ 0.5, -0.5]])
    """

    value: float | tuple = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        self._normalize(
            value=validation.finite_values(self.value, "value"),
            axis=validation.axis_argument(self.axis),
        )

    @property
    def per_group(self) -> bool:
        """Whether ``value`` is an array (one target per group) rather than one number."""
        return isinstance(self.value, tuple)

    @property
    def layout(self) -> Layout:
        return Groups(self.axis)

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        if self.per_group:
            validation.group_values_fit(self.value, "value", layout.shape, layout.axes, owner)

    def _project(self, x: Any, layout: Resolved) -> Any:
        return shift_to_sum(
            x, layout, group_targets(self.value, layout), single=layout.bound(self.value)
        )

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        # The tangent space of every group's hyperplane: g less its group mean.
        return shift_to_sum(g, layout, ops.zeros((), layout.compute_dtype))


def group_targets(value: float | tuple, layout: Resolved) -> Any:
    """``value`` (a number or per-group targets) as a tensor in the compute dtype."""
    if isinstance(value, tuple):
        value = np.asarray(value, dtype=layout.compute_dtype)  # type: ignore[assignment]
    return ops.convert_to_tensor(value, dtype=layout.compute_dtype)


def shift_to_sum(x: Any, layout: Resolved, target: Any, single: Any | None = None) -> Any:
    """``x`` shifted per group so that each group sums to ``target`` (broadcastable
    to the per-group sums); groups of one entry become ``single`` (default ``target``)."""
    n = layout.size
    if n == 1:
        return ops.broadcast_to(target if single is None else single, layout.shape)
    scale = 2.0 ** math.ceil(math.log2(n))
    scaled_sum = reductions.scaled_group_sum(x, layout, 1.0 / scale)
    return x + (target * (1.0 / scale) - scaled_sum) * (scale / n)
