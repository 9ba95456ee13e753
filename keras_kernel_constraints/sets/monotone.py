"""Monotone sequences, optionally boxed and with a smallest step.

Every 1-D slice along ``axis`` is one sequence. The slices are moved last and
flattened into a ``(slices, n)`` matrix and solved together by the batched,
exact isotonic regression in ``._isotonic`` (static shapes, no host
callback, ``O(n log n)`` work and ``O(n)`` memory per slice).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints._core import validation
from keras_kernel_constraints._core.dtypes import EPSILON
from keras_kernel_constraints._core.layout import Layout, Slices
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set
from keras_kernel_constraints.sets._isotonic import bounded_isotonic_rows, isotonic_rows

# Per-entry bounds are solved by an O(n^2) formula: at most this many
# (row, start, end) windows, 64 MiB per float32 table.
_BOUNDED_WINDOWS = 1 << 24


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

    **Per-entry bounds.** ``min_value`` and ``max_value`` may be arrays (nested
    lists or NumPy) shaped like the weight or a trailing slice of it, as for
    ``Box``: one bound per tap of a Conv1D kernel is shape ``(taps, 1, 1)``;
    ``-inf`` (``inf``) leaves an entry open below (above). Step 3 is then no
    longer a clip (clipping the isotonic fit to bounds that vary is not the
    projection); step 2 becomes pool-adjacent-violators with every block's
    value its mean clipped to the block's bounds (Best, Chakravarti & Ubhaya,
    2000), evaluated for all slices at once by a min-max formula in
    ``O(n^2)`` memory per slice. A weight whose slices need more than
    2^24 windows in all (slices x n^2) is refused on first use, as is a
    slice whose bounds leave no ordered point.

    Args:
        increasing: ``True`` for non-decreasing slices, ``False`` for
            non-increasing ones.
        min_value: Lower bound $\ell$ for every entry, an array of them (one
            per entry), or ``None``.
        max_value: Upper bound $u \ge \ell$ for every entry, an array of
            them, or ``None``.
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
    min_value: float | tuple | None = None
    max_value: float | tuple | None = None
    min_step: float = 0.0
    axis: int = 0

    def __post_init__(self) -> None:
        lo, hi = validation.optional_entry_bounds(self.min_value, self.max_value)
        self._normalize(
            increasing=validation.boolean(self.increasing, "increasing"),
            min_value=lo,
            max_value=hi,
            min_step=validation.non_negative_number(self.min_step, "min_step"),
            axis=validation.ordered_axis(self.axis),
        )

    @property
    def per_entry(self) -> bool:
        """Whether a bound is an array (one per entry) rather than one number."""
        return isinstance(self.min_value, tuple) or isinstance(self.max_value, tuple)

    @property
    def layout(self) -> Layout:
        return Slices(self.axis)

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        if not self.per_entry:
            validation.steps_fit(layout.size, self.min_value, self.max_value, self.min_step, owner)
            return
        for name in ("min_value", "max_value"):
            validation.entry_bound_fits(getattr(self, name), name, layout.shape, owner)
        windows = math.prod(layout.shape) * layout.size
        if windows > _BOUNDED_WINDOWS:
            raise ValueError(
                f"{owner}: per-entry bounds are solved in O(n^2) memory per slice, and a "
                f"weight of shape {layout.shape} ordered along axis {layout.axes[0]} needs "
                f"{windows} windows, more than {_BOUNDED_WINDOWS}. Use one number per "
                "bound, or Intersect(Monotone(...), Box(min_value, max_value)), which "
                "reaches these bounds by Dykstra's algorithm (to its tolerance)."
            )
        validation.ordered_entries_fit(
            self.min_value,
            self.max_value,
            self.min_step,
            shape=layout.shape,
            axis=layout.axes[0],
            increasing=self.increasing,
            owner=owner,
        )

    def _project(self, x: Any, layout: Resolved) -> Any:
        n, acc = layout.size, layout.compute_dtype
        rows, restore = layout.to_rows(x)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        steps = None
        if self.min_step > 0 and n > 1:
            steps = ops.convert_to_tensor(self.min_step, dtype=acc) * ops.arange(n, dtype=acc)
            rows = rows - steps
        if self.per_entry:
            return self._project_within_entries(rows, restore, steps, layout)
        rows = isotonic_rows(rows)
        rows = self._clip(rows, layout, (n - 1) * self.min_step)
        if steps is not None:
            # Clip again so adding the steps back cannot round past a bound.
            rows = self._clip(rows + steps, layout, 0.0)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        return restore(rows)

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        """The step ``-t`` is ``-g`` projected onto the tangent cone: within each
        run of tied neighbours (a pooled block; steps of exactly ``min_step``)
        it must keep the order, and at an entry on a bound it may not cross it.
        That is an isotonic regression of ``-g`` per run, bounded below (above)
        by 0 at entries on their lower (upper) bound: the per-entry-bound
        formula with the order lifted between runs, ``O(n^2)`` per slice. Past
        the per-entry bounds' window budget the gradient is returned as is
        (the plain projected step).
        """
        if math.prod(layout.shape) * layout.size > _BOUNDED_WINDOWS:
            return g
        rows, restore = layout.to_rows(x)
        step = -layout.to_rows(g)[0]
        at_lower = rows <= self._entry_rows("min_value", layout)
        at_upper = rows >= self._entry_rows("max_value", layout)
        if not self.increasing:
            rows, step, at_lower, at_upper = (
                ops.flip(r, axis=-1) for r in (rows, step, at_lower, at_upper)
            )
        gaps = rows[:, 1:] - rows[:, :-1]
        if self.min_step > 0:
            gaps = gaps - ops.convert_to_tensor(self.min_step, dtype=layout.compute_dtype)
        # Pooled entries tie exactly; a step of min_step added back may round.
        slack = 4 * EPSILON[layout.dtype] * (ops.abs(rows[:, 1:]) + ops.abs(rows[:, :-1]))
        zero = ops.zeros_like(step)
        infinity = ops.full_like(step, float("inf"))
        step = bounded_isotonic_rows(
            step,
            ops.where(at_lower, zero, -infinity),
            ops.where(at_upper, zero, infinity),
            breaks=gaps > slack,
        )
        if not self.increasing:
            step = ops.flip(step, axis=-1)
        return restore(-step)

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

    def _project_within_entries(self, rows: Any, restore: Any, steps: Any, layout: Resolved) -> Any:
        """Step 2 with per-entry bounds; ``rows`` are flipped and stepped already."""
        low, high = (self._entry_rows(name, layout) for name in ("min_value", "max_value"))
        lower, upper = (b if self.increasing else ops.flip(b, axis=-1) for b in (low, high))
        if steps is not None:
            lower, upper = lower - steps, upper - steps
        rows = bounded_isotonic_rows(rows, lower, upper)
        if steps is not None:
            rows = rows + steps
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        # Clip to the entries' own bounds: adding the steps back may round past one.
        return restore(ops.clip(rows, low, high))

    def _entry_rows(self, name: str, layout: Resolved) -> Any:
        """Bound ``name`` per entry, rounded to the weight's dtype, as ``(slices, n)`` rows."""
        value = getattr(self, name)
        if value is None:
            value = -math.inf if name == "min_value" else math.inf
        rows, _ = layout.to_rows(ops.broadcast_to(layout.bound(value), layout.shape))
        return rows
