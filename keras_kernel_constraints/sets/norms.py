"""Norm balls, spheres and norm bands.

The l2 sets are radial: the projection rescales each group by a factor
computed from its norm, with no ``eps`` in any denominator. A group whose
norm is within ``2 * eps`` (``eps``: the machine epsilon of the weight's
dtype; relative) of the band is on the set as far as that dtype can tell,
and is returned bit for bit; so is every other group that is inside. This
makes the projections idempotent exactly, not just up to rounding: rounding
a rescaled group to the weight's dtype moves its norm by at most ``eps / 2``
and computing the norm errs by about as much again, so a projected group
always lands within the slack. Norms are one plain reduction when no group
can overflow or underflow, and a max-scaled one otherwise (see
``_core.reductions.group_norm_parts``). float16 and bfloat16 are computed
in float32.
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.dtypes import EPSILON
from keras_kernel_constraints._core.layout import AxisLike, Elementwise, Groups, Layout
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set, tangent_at_bounds


class _Radial(Set):
    """A set of groups whose l2 norms lie in ``[_low, _high]``."""

    axis: AxisLike

    @property
    def bounded(self) -> bool:
        return True

    @property
    def layout(self) -> Layout:
        return Groups(self.axis)

    @property
    def _band(self) -> tuple[float, float]:
        raise NotImplementedError

    def _project(self, x: Any, layout: Resolved) -> Any:
        low, high = self._band
        acc = layout.compute_dtype
        unit, spread, norm = reductions.group_norm_parts(x, layout.axes, infinite_as_largest=True)
        lo = ops.convert_to_tensor(low, dtype=acc)
        hi = ops.convert_to_tensor(high, dtype=acc)
        # unit * (target / spread) = x * target / norm, with no intermediate
        # that can overflow even when the norm itself is not representable.
        rescaled = unit * (ops.clip(norm, lo, hi) / spread)
        # Groups in the band, up to the dtype's rounding, are returned bit for bit.
        slack = 2.0 * EPSILON[layout.dtype]
        inside = ops.logical_and(norm >= lo * (1.0 - slack), norm <= hi * (1.0 + slack))
        fallback = lo * reductions.first_entry_mask(layout, acc)
        # Only a zero group takes the fallback; a NaN group stays NaN.
        return ops.where(inside, x, ops.where(norm == 0, fallback, rescaled))

    def _distance(self, x: Any, layout: Resolved) -> Any:
        low, high = self._band
        norm = reductions.group_norm_parts(x, layout.axes)[2]
        return ops.relu(low - norm) + ops.relu(norm - high)

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        # On the outer sphere a descent step -g may not point outward (<g, x> < 0),
        # on the inner one not inward; on a sphere (low = high) neither. The radial
        # component <g, u> u (u = x / |x|) is removed where it would.
        low, high = self._band
        axes = layout.axes
        unit, spread, norm = reductions.group_norm_parts(x, axes, infinite_as_largest=True)
        direction = unit / ops.where(spread > 0, spread, ops.ones_like(spread))
        along = g * direction
        radial = ops.sum(along, axis=axes, keepdims=True) if axes else along
        # Projected groups lie within 2 eps of the band (``_project``): twice that.
        slack = 4.0 * EPSILON[layout.dtype]
        outer = norm >= high * (1.0 - slack)
        inner = ops.logical_and(norm <= low * (1.0 + slack), norm > 0)
        zero = ops.zeros_like(radial)
        leaving = ops.logical_or(
            ops.logical_and(outer, radial < zero), ops.logical_and(inner, radial > zero)
        )
        return g - ops.where(leaving, radial, zero) * direction


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class L2Ball(_Radial):
    r"""Every group's l2 norm at most $r$: the exact max-norm set.

    $$
    C = \{w : \|w_g\|_2 \le r\}, \qquad
    P(w)_g = w_g \cdot \min\left(1, \frac{r}{\|w_g\|_2}\right)
    $$

    Groups inside the ball are left exactly as they are and groups outside
    land on the sphere. ``keras.constraints.MaxNorm`` computes
    ``w * clip(n, 0, r) / (eps + n)`` instead, which shrinks every group a
    little and is not idempotent.

    Args:
        radius: Positive radius $r$.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit (every axis but the last).

    Example:

        >>> import numpy as np
        >>> np.asarray(L2Ball(1.0).project(np.array([3.0, 4.0])))
        array([0.6, 0.8])
    """

    radius: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        self._normalize(
            radius=validation.positive_number(self.radius, "radius"),
            axis=validation.axis_argument(self.axis),
        )

    @property
    def _band(self) -> tuple[float, float]:
        return 0.0, self.radius


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Sphere(_Radial):
    r"""Every group's l2 norm exactly $r$.

    $$
    C = \{w : \|w_g\|_2 = r\}, \qquad P(w)_g = r \, \frac{w_g}{\|w_g\|_2}
    $$

    Not convex. A group of zeros has no nearest point (every point of the
    sphere is as near); it maps to $r$ times the group's first basis
    vector: $r$ at index 0 of every group axis, 0 elsewhere. Never NaN for
    finite input.

    Args:
        radius: Positive radius $r$.
        axis: Groups, as for ``L2Ball``.

    Example:

        >>> import numpy as np
        >>> np.asarray(Sphere(2.0).project(np.array([0.0, 0.0])))
        array([2., 0.])
    """

    radius: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        self._normalize(
            radius=validation.positive_number(self.radius, "radius"),
            axis=validation.axis_argument(self.axis),
        )

    @property
    def convex(self) -> bool:
        return False

    @property
    def _band(self) -> tuple[float, float]:
        return self.radius, self.radius


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class NormBand(_Radial):
    r"""Every group's l2 norm in $[a, b]$: the exact min-max-norm set.

    $$
    C = \{w : a \le \|w_g\|_2 \le b\}, \qquad
    P(w)_g = w_g \, \frac{\operatorname{clip}(\|w_g\|_2, a, b)}{\|w_g\|_2}
    $$

    Not convex when $a > 0$, but the radial map is still the nearest point
    for every non-zero group. A group of zeros maps to $a$ times the
    group's first basis vector (0 when $a = 0$).

    Args:
        min_norm: Smallest norm $a \ge 0$.
        max_norm: Largest norm $b > 0$, $b \ge a$.
        axis: Groups, as for ``L2Ball``.

    Example:

        >>> import numpy as np
        >>> np.asarray(NormBand(1.0, 2.0).project(np.array([0.3, 0.4])))
        array([0.6, 0.8])
    """

    min_norm: float = 0.0
    max_norm: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        low, high = validation.norm_bounds(self.min_norm, self.max_norm)
        self._normalize(min_norm=low, max_norm=high, axis=validation.axis_argument(self.axis))

    @property
    def convex(self) -> bool:
        return self.min_norm == 0

    @property
    def _band(self) -> tuple[float, float]:
        return self.min_norm, self.max_norm


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class LinfBall(Set):
    r"""Every entry in $[-r, r]$: the l-infinity ball.

    $$
    C = \{w : |w_i| \le r\}, \qquad P(w) = \operatorname{clip}(w, -r, r)
    $$

    A box, so elementwise and exact in every dtype.

    Args:
        radius: Positive radius $r$.

    Example:

        >>> import numpy as np
        >>> np.asarray(LinfBall(1.0).project(np.array([-3.0, 0.5])))
        array([-1. ,  0.5])
    """

    radius: float = 1.0

    def __post_init__(self) -> None:
        self._normalize(radius=validation.positive_number(self.radius, "radius"))

    @property
    def layout(self) -> Layout:
        return Elementwise()

    def _project(self, x: Any, layout: Resolved) -> Any:
        return ops.clip(x, layout.bound(-self.radius), layout.bound(self.radius))

    def _distance(self, x: Any, layout: Resolved) -> Any:
        return ops.relu(-self.radius - x) + ops.relu(x - self.radius)

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        return tangent_at_bounds(x, g, layout.bound(-self.radius), layout.bound(self.radius))
