"""Radial maps: onto the sphere (normalise) and into the open ball (radial squash)."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions
from keras_kernel_constraints._core.dtypes import LARGEST
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.parametrizations._base import Parametrization, register
from keras_kernel_constraints.parametrizations.entries import start_distance


def _direction(v: Any, layout: Resolved) -> tuple[Any, Any]:
    """Per group ``(v / ||v||, ||v||)``; a zero group's direction is its first entry's axis.

    Every denominator is guarded, so no branch where() drops can put NaN
    into the gradient.
    """
    unit, spread, norm = reductions.group_norm_parts(v, layout.axes, infinite_as_largest=True)
    nonzero = spread > 0
    direction = unit / ops.where(nonzero, spread, ops.ones_like(spread))
    fallback = reductions.first_entry_mask(layout, layout.compute_dtype)
    return ops.where(nonzero, direction, fallback), norm


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Sphere(Parametrization):
    r"""Every group on the sphere of radius $r$: $v$ normalised.

    $$
    f(v)_g = r\,\frac{v_g}{\|v_g\|_2}, \qquad f^{-1}(w) = w
    $$

    Scale-invariant, so the gradient reaching $v$ is orthogonal to $v$ and
    the free variable's norm only grows (slowly, by the step's square):
    Adam and SGD both work. A zero group maps to $r$ times its first unit
    vector, as the projection ``sets.Sphere`` does. The norm is computed
    without overflow for any finite $v$.

    Args:
        radius: The sphere's radius $r > 0$.
        axis: Axes forming one group, as for ``SumTo``.

    Example:

        >>> import numpy as np
        >>> np.asarray(Sphere().forward(np.array([3.0, 4.0])))
        array([0.6, 0.8])
    """

    radius: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    @property
    def set(self) -> sets.Set:
        return sets.Sphere(self.radius, axis=self.axis)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        return _direction(v, layout)[0] * layout.bound(self.radius)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        # The projection: w itself on the sphere, and a group of zeros (whose
        # direction has no gradient) the sphere's first basis vector.
        return self.set._project(w, layout)


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class L2Ball(Parametrization):
    r"""Every group inside the open ball of radius $r$, by a smooth radial squash.

    $$
    f(v)_g = \frac{r\, v_g}{\sqrt{r^2 + \|v_g\|_2^2}}, \qquad
    f^{-1}(w)_g = \frac{r\, w_g}{\sqrt{r^2 - \|w_g\|_2^2}}
    $$

    Smooth everywhere, the identity to first order at 0 and never on the
    boundary sphere (which ``sets.L2Ball`` includes). Unlike the
    projection, it also shrinks points inside the ball: small weights are
    nearly unchanged, weights of norm $r/2$ come from free variables of
    norm $0.58\,r$. ``right_inverse`` is exact inside the ball and gives a
    weight on or outside its boundary the norm $r(1 - 10^{-3})$
    (see ``entries.start_distance``).

    Args:
        radius: The ball's radius $r > 0$.
        axis: Axes forming one group, as for ``SumTo``.

    Example:

        >>> import numpy as np
        >>> np.asarray(L2Ball(5.0).forward(np.array([0.0, 0.0])))
        array([0., 0.])
        >>> np.round(np.asarray(L2Ball(1.0).forward(np.array([3.0, 4.0]))), 4)
        array([0.5883, 0.7845])
    """

    radius: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    @property
    def set(self) -> sets.Set:
        return sets.L2Ball(self.radius, axis=self.axis)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        r = layout.bound(self.radius)
        direction, norm = _direction(v, layout)
        huge = ops.convert_to_tensor(LARGEST[layout.compute_dtype] ** 0.5, layout.compute_dtype)
        small = norm < huge
        # r v / sqrt(r^2 + |v|^2) directly where |v|^2 is finite: smooth at 0,
        # with the exact gradient there; r * direction beyond.
        capped = ops.where(small, norm, ops.zeros_like(norm))
        direct = v * (r / ops.sqrt(r * r + capped * capped))
        return ops.where(small, direct, direction * r)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        r = layout.bound(self.radius)
        direction, norm = _direction(w, layout)
        # On or outside the sphere the open ball's inverse is infinite: come
        # in by a relative margin (entries.start_distance).
        gap = r - norm
        start = start_distance(gap, layout, r)
        moved = start != gap
        w = ops.where(moved, direction * (r - start), w)
        # r^2 - |w|^2 as (r - |w|)(r + |w|): exact inside the ball.
        return w * (r / ops.sqrt(start * (r + r - start)))
