"""Entrywise maps: positive entries (softplus) and entries in an open box (sigmoid)."""

from __future__ import annotations

import dataclasses
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.dtypes import EPSILON, MIN_EXPONENT
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.parametrizations._base import Parametrization, register


def smallest_normal(layout: Resolved) -> Any:
    """The smallest normal number of the compute dtype, as a tensor of it."""
    value = 2.0 ** MIN_EXPONENT[layout.compute_dtype]
    return ops.convert_to_tensor(value, dtype=layout.compute_dtype)


MARGIN = 1e-3
"""How far inside its set ``right_inverse`` puts a weight on the boundary or
outside, relative to the weight's scale (see ``start_distance``)."""

ROUNDING = 64
"""Distances to the boundary below this many ulps of the scale are rounding
noise (a projection's output that should lie on the boundary): boundary."""


def start_distance(distance: Any, layout: Resolved, scale: Any) -> Any:
    """The distance to the boundary that ``right_inverse`` starts a weight at.

    ``distance`` itself in the interior; ``MARGIN * scale`` for a weight on
    the boundary (within ``ROUNDING`` ulps of ``scale``) or outside. Not the
    smallest representable distance: at a distance ``d`` softplus and
    sigmoid have a gradient of about ``d / scale``, so a weight one ulp
    inside would never move again (about 1e-38 in float32, far below Adam's
    ``epsilon``). At a thousandth of its scale from the boundary it trains
    (Adam rescales the gradient to a full step), and it starts that close
    to its projection. The scale counts as at least 1, so that a weight
    of zeros (Keras's default bias) starts 1e-3 inside rather than a
    thousandth of nothing.
    """
    scale = reductions.maximum(scale, ops.ones_like(scale))
    ulp = ops.convert_to_tensor(ROUNDING * EPSILON[layout.compute_dtype], layout.compute_dtype)
    fraction = ops.convert_to_tensor(MARGIN, layout.compute_dtype)
    return ops.where(distance > ulp * scale, distance, fraction * scale)


def inverse_softplus(y: Any) -> Any:
    """``v`` with ``softplus(v) = y``, for ``y > 0``.

    ``log(expm1(y))`` written as ``y + log(-expm1(-y))``, which neither
    overflows for large ``y`` nor loses ``y`` near 0.
    """
    return y + ops.log(-ops.expm1(-y))


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Positive(Parametrization):
    r"""Every entry above ``min_value``, by softplus.

    $$
    f(v) = \ell + \log(1 + e^{v}), \qquad f^{-1}(w) = y + \log(1 - e^{-y}),\ y = w - \ell
    $$

    The image is the open half-line $w > \ell$, inside the closed set
    ``sets.Box(min_value=ℓ)``: an entry approaches $\ell$ only as $v \to
    -\infty$, where its gradient vanishes. ``right_inverse`` is exact above
    $\ell$ and puts a weight at or below it a margin of $10^{-3}$
    times the largest $|w - \ell|$ (at least 1) inside (see
    ``entries.start_distance``), where it still trains.

    Args:
        min_value: The finite lower bound $\ell$ (default 0: positive entries).

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(Positive().forward(np.array([-30.0, 0.0, 30.0]))), 4)
        array([ 0.    ,  0.6931, 30.    ])
    """

    min_value: float = 0.0

    def __post_init__(self) -> None:
        # Finite: the set would read None or -inf as no bound at all.
        self._normalize(min_value=validation.finite_number(self.min_value, "min_value"))
        super().__post_init__()

    @property
    def set(self) -> sets.Set:
        return sets.Box(min_value=self.min_value)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        return layout.bound(self.min_value) + ops.softplus(v)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        y = w - layout.bound(self.min_value)
        return inverse_softplus(start_distance(y, layout, ops.max(ops.abs(y))))


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Box(Parametrization):
    r"""Every entry in the open interval $(\ell, u)$, by a scaled sigmoid.

    $$
    f(v) = \ell\,\sigma(-v) + u\,\sigma(v), \qquad
    f^{-1}(w) = \log(w - \ell) - \log(u - w)
    $$

    with $\sigma(v) = 1 / (1 + e^{-v})$. Written with both $\sigma(v)$ and
    $\sigma(-v)$ (the form of TensorFlow Probability's ``Sigmoid``
    bijector), the map keeps its accuracy near either bound. Inside the
    closed ``sets.Box(ℓ, u)``; ``right_inverse`` is exact inside the box and
    puts a weight at or beyond a bound a margin of $10^{-3}\,(u -
    \ell)$ inside it (see ``entries.start_distance``).

    Args:
        min_value: Finite lower bound $\ell$.
        max_value: Finite upper bound $u > \ell$.

    Example:

        >>> import numpy as np
        >>> np.asarray(Box(-1.0, 5.0).forward(np.array([0.0])))
        array([2.])
    """

    min_value: float
    max_value: float

    def __post_init__(self) -> None:
        # Both finite (the set would read None as an open side) and apart.
        lo, hi = validation.ordered_bounds(self.min_value, self.max_value)
        if lo == hi:
            raise ValueError(
                f"`min_value` must be < `max_value` for an open box; got min_value={lo}, "
                f"max_value={hi}. A single value needs no parametrization: use a constant."
            )
        self._normalize(min_value=lo, max_value=hi)

    @property
    def set(self) -> sets.Set:
        return sets.Box(self.min_value, self.max_value)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        lo, hi = layout.bound(self.min_value), layout.bound(self.max_value)
        # Clipped: lo * s(-v) + hi * s(v) can round a hair past a bound.
        return ops.clip(lo * ops.sigmoid(-v) + hi * ops.sigmoid(v), lo, hi)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        lo, hi = layout.bound(self.min_value), layout.bound(self.max_value)
        w = ops.clip(w, lo, hi)
        above = start_distance(w - lo, layout, hi - lo)
        below = start_distance(hi - w, layout, hi - lo)
        return ops.log(above) - ops.log(below)
