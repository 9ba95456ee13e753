"""Monotone sequences, optionally boxed and with a smallest step.

Every 1-D slice along ``axis`` is one sequence. The slices are moved last and
flattened into a ``(slices, n)`` matrix and solved together by the batched,
exact isotonic regression in ``._isotonic`` (static shapes, no host
callback, ``O(n log n)`` work and ``O(n)`` memory per slice).
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints._core import validation
from keras_kernel_constraints._core.layout import Layout, Slices
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set
from keras_kernel_constraints.sets._isotonic import isotonic_rows


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Monotone(Set):
    r"""Every slice along ``axis`` ordered, with optional bounds and a smallest step.

    For ``increasing=True`` and a slice $w \in \mathbb{R}^n$:

    $$
    C = \{w : w_{i+1} - w_i \ge \delta,\ \ \ell \le w_i \le u\}, \qquad
    P(w) = \underset{p \in C}{\mathrm{arg\,min}}\, \|p - w\|_2
    $$

    with $\delta$ = ``min_step``, $\ell$ = ``min_value`` and $u$ =
    ``max_value``. The projection is computed exactly, in three steps:

    1. Substitute $z_i = p_i - i\delta$, which turns the steps into plain
       order $z_{i+1} \ge z_i$ (a translation, so distances are unchanged)
       and, for ordered $z$, the box into the constant box
       $\ell \le z_i \le u - (n-1)\delta$.
    2. Isotonic regression of $w_i - i\delta$: the pool-adjacent-violators
       solution (Ayer et al., 1955; Barlow et al., 1972), computed by
       batched divide and conquer.
    3. Clip to the constant box (clipping an isotonic solution is the
       projection onto its intersection with a box) and add $i\delta$ back.

    ``increasing=False`` projects the reversed slice. Slices that already
    satisfy the order (and ``min_step=0``, no bounds) come back bit for bit.

    Args:
        increasing: ``True`` for non-decreasing slices, ``False`` for
            non-increasing ones.
        min_value: Lower bound $\ell$ for every entry, or ``None``.
        max_value: Upper bound $u \ge \ell$ for every entry, or ``None``.
        min_step: Smallest difference $\delta \ge 0$ between neighbours, in
            the direction of the order.
        axis: The one axis along which entries are ordered (an int); every
            other axis indexes independent slices. 0 is the tap axis of a
            Conv1D kernel ``(taps, in, out)``.

    Example:

        >>> import numpy as np
        >>> np.asarray(Monotone().project(np.array([1.0, 3.0, 2.0, 4.0])))
        array([1. , 2.5, 2.5, 4. ])
        >>> np.asarray(Monotone(min_value=0.0).project(np.array([0.5, -1.0, 2.0])))
        array([0., 0., 2.])
    """

    increasing: bool = True
    _: KW_ONLY
    min_value: float | None = None
    max_value: float | None = None
    min_step: float = 0.0
    axis: int = 0

    def __post_init__(self) -> None:
        lo, hi = validation.optional_ordered_bounds(self.min_value, self.max_value)
        self._normalize(
            increasing=validation.boolean(self.increasing, "increasing"),
            min_value=lo,
            max_value=hi,
            min_step=validation.non_negative_number(self.min_step, "min_step"),
            axis=validation.ordered_axis(self.axis),
        )

    @property
    def layout(self) -> Layout:
        return Slices(self.axis)

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        validation.steps_fit(layout.size, self.min_value, self.max_value, self.min_step, owner)

    def _project(self, x: Any, layout: Resolved) -> Any:
        n, acc = layout.size, layout.compute_dtype
        rows, restore = layout.to_rows(x)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        steps = None
        if self.min_step > 0 and n > 1:
            steps = ops.convert_to_tensor(self.min_step, dtype=acc) * ops.arange(n, dtype=acc)
            rows = rows - steps
        rows = isotonic_rows(rows)
        rows = self._clip(rows, layout, (n - 1) * self.min_step)
        if steps is not None:
            # Clip again so adding the steps back cannot round past a bound.
            rows = self._clip(rows + steps, layout, 0.0)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        return restore(rows)

    def _clip(self, rows: Any, layout: Resolved, span: float) -> Any:
        """Clip to ``[min_value, max_value - span]``, bounds rounded to the weight's dtype."""
        if self.min_value is None and self.max_value is None:
            return rows
        # clip with tensor bounds keeps float64 on every backend; a missing
        # bound is infinite, which leaves every finite entry unchanged.
        lower = layout.bound(-float("inf") if self.min_value is None else self.min_value)
        upper = layout.bound(float("inf") if self.max_value is None else self.max_value)
        if span:
            # Never below the lower bound, even where the span rounds past it.
            upper = upper - ops.convert_to_tensor(span, dtype=layout.compute_dtype)
            upper = ops.where(upper < lower, lower, upper)
        return ops.clip(rows, lower, upper)
