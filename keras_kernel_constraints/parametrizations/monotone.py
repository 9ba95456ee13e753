"""Monotone sequences: a first value plus a running sum of softplus steps."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.parametrizations._base import Parametrization, register
from keras_kernel_constraints.parametrizations.entries import inverse_softplus, start_distance


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Monotone(Parametrization):
    r"""Every slice along ``axis`` strictly ordered, optionally above a bound, by softplus steps.

    For ``increasing=True`` and a slice $v \in \mathbb{R}^n$:

    $$
    f(v)_0 = v_0 \ \text{(or } \ell + \mathrm{softplus}(v_0)\text{)}, \qquad
    f(v)_i = f(v)_{i-1} + \delta + \mathrm{softplus}(v_i)
    $$

    with $\delta$ = ``min_step`` and $\ell$ = ``min_value``: a first value
    and a running sum (``cumsum``) of increments larger than $\delta$. This
    is the positive, increasing FIR kernel ``cumsum(exp(v))`` done so that
    it trains: computed from the free variable in every forward pass (by
    ``Parametrized``), not once. softplus grows linearly where exp would
    overflow. The image is the interior of ``sets.Monotone(increasing,
    min_value=ℓ, min_step=δ)``; ``right_inverse`` takes first differences
    (after projecting onto that set): exact inside, and a step of exactly
    $\delta$ (or a first entry at $\ell$), which the projection of an
    unordered weight makes, becomes $10^{-3}$ times the weight's spread
    $\max w - \min w$ (or its largest $w_0 - \ell$; at least 1) more (see
    ``entries.start_distance``), so that it trains.
    ``increasing=False`` orders the reversed slice.

    Args:
        increasing: ``True`` for increasing slices, ``False`` for decreasing.
        min_value: Lower bound $\ell$ of every entry, or ``None``
            (``0.0``: positive and increasing).
        min_step: Smallest difference $\delta \ge 0$ between neighbours.
        axis: The one axis along which entries are ordered (0: the taps of
            a Conv1D kernel ``(taps, in, out)``).

    Example:

        >>> import numpy as np
        >>> kernel = Monotone(min_value=0.0).forward(np.array([-50.0, 0.0, 0.0]))
        >>> np.round(np.asarray(kernel), 4)
        array([0.    , 0.6931, 1.3863])
    """

    increasing: bool = True
    _: KW_ONLY
    min_value: float | None = None
    min_step: float = 0.0
    axis: int = 0

    def __post_init__(self) -> None:
        if validation.is_array(self.min_value):
            raise ValueError(
                "parametrizations.Monotone: `min_value` must be one number or None (the "
                "first entry's bound, which the steps carry to the others); got an array. "
                "For one bound per entry, use constraints.Monotone(min_value=...)."
            )
        super().__post_init__()

    @property
    def set(self) -> sets.Set:
        return sets.Monotone(
            self.increasing, min_value=self.min_value, min_step=self.min_step, axis=self.axis
        )

    def _forward(self, v: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(v)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        first = rows[:, :1]
        if self.min_value is not None:
            first = layout.bound(self.min_value) + ops.softplus(first)
        steps = ops.softplus(rows[:, 1:])
        if self.min_step:
            steps = steps + ops.convert_to_tensor(self.min_step, dtype=layout.compute_dtype)
        rows = reductions.cumsum(ops.concatenate([first, steps], axis=-1), axis=-1)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        return restore(rows)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(self.set._project(w, layout))
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        first = rows[:, :1]
        if self.min_value is not None:
            above = first - layout.bound(self.min_value)
            first = inverse_softplus(start_distance(above, layout, ops.max(ops.abs(above))))
        steps = rows[:, 1:] - rows[:, :-1]
        if self.min_step:
            steps = steps - ops.convert_to_tensor(self.min_step, dtype=layout.compute_dtype)
        # Margins relative to the slices' spread, not their level: a kernel
        # far above min_value must not move by a share of that distance.
        spread = ops.max(rows) - ops.min(rows)
        steps = inverse_softplus(start_distance(steps, layout, spread))
        rows = ops.concatenate([first, steps], axis=-1)
        if not self.increasing:
            rows = ops.flip(rows, axis=-1)
        return restore(rows)
