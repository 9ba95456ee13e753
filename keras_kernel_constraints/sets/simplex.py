"""The simplex, the capped simplex and the l1 ball.

Every group is projected at once: the group axes are moved last and
flattened into a ``(groups, n)`` matrix, so one bisection runs over all
groups together. No Python loop over groups, no host callback, static
shapes only. float16 and bfloat16 are computed in float32.

All three are ``clip(w - tau, lo, hi)`` with one threshold ``tau`` per group
(the dual variable of the sum). Bisection brackets ``tau`` to the dtype's
resolution, which fixes which entries end at a bound; the exact finish then
solves for the free entries in closed form, written as the peers (optax,
jaxopt) write it: the free entries' mean is removed, with its rounding
error, and the target shared out, ``p_F = (w_F - mean_F) + (s - fixed) /
|F|``. The target never meets ``max|w|`` in one rounding, so a group keeps
its sum at any scale (``[1e9, 0]`` projects to ``[1, 0]`` in float32, where
``(sum - s) / n`` would round ``s`` away). Free entries whose value lands on
a bound are moved there and the finish runs once more, so entries within
rounding of the threshold cannot carry the sum off its target.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import KW_ONLY
from typing import Any

import numpy as np
from keras import backend, ops

from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.dtypes import EPSILON
from keras_kernel_constraints._core.layout import AxisLike, Groups, Layout
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Simplex(Set):
    r"""Every group non-negative and summing to $s$.

    $$
    C = \left\{w : w_i \ge 0,\ \sum_{i \in g} w_i = s\right\}, \qquad
    P(w)_i = \max(w_i - \tau_g, 0)
    $$

    with one threshold $\tau_g$ per group (Held, Wolfe & Crowder 1974;
    Duchi et al., ICML 2008). $f(\tau) = \sum_i \max(w_i - \tau, 0)$ falls
    from at least $s$ at $\max(w) - s$ to 0 at $\max(w)$: bisection on that
    bracket (a fixed 64 halvings in float32, 128 in float64) finds the
    support, and the exact finish computes the support's entries in closed
    form. O(n * iterations) per group, all groups at once; the classic
    sort-based support detection gives the same result but XLA's CPU sort
    is about three times slower on Conv kernels. Entries below the threshold
    become exactly 0, so the result is often sparse.

    Args:
        value: Positive sum $s$ of every group.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit (every axis but the last).

    Example:

        >>> import numpy as np
        >>> np.asarray(Simplex(1.0).project(np.array([0.5, 1.5, -1.0])))
        array([0., 1., 0.])
    """

    value: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        self._normalize(
            value=validation.positive_number(self.value, "value"),
            axis=validation.axis_argument(self.axis),
        )

    @property
    def bounded(self) -> bool:
        return True

    @property
    def layout(self) -> Layout:
        return Groups(self.axis)

    def _project(self, x: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(reductions.largest_for_infinite(x))
        return restore(_simplex_rows(rows, self.value))

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        columns, restore = layout.to_columns(g)
        at_zero = layout.to_columns(x)[0] <= 0
        return restore(_tangent_above_zero_columns(columns, at_zero))


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class CappedSimplex(Set):
    r"""Every entry in $[\ell, u]$ and every group summing to $s$.

    $$
    C = \left\{w : \ell \le w_i \le u,\ \sum_{i \in g} w_i = s\right\}, \qquad
    P(w)_i = \min(\max(w_i - \tau_g, \ell), u)
    $$

    The sum $f(\tau) = \sum_i \min(\max(w_i - \tau, \ell), u)$ is
    non-increasing and linear between its $2n$ breakpoints $w_i - u$ and
    $w_i - \ell$, and $\tau$ lies in $[\min w - u, \max w - \ell]$. A few
    bisection steps at geometric midpoints (5 in float32, 7 in float64)
    bring the bracket's ends within a factor $2^{16}$ ($2^{32}$) of each
    other, whatever the spread of the entries; halvings in value (as in jaxopt's
    ``projection_box_section``; 40 in float32, 85 in float64) then reach
    adjacent floats; $\tau$ is finally solved for on the free entries in
    closed form. (The halvings alone left a group spanning the float range
    a bracket 1e19 wide.) A group of
    $n$ entries can be feasible only if $n\ell \le s \le nu$; a weight
    whose groups cannot raises ``ValueError`` on first use.

    **Per-entry bounds.** Either bound may be an array of finite bounds
    $\ell_i$, $u_i$, shaped like the weight or a trailing slice of it (as for
    ``Box``; e.g. one interval per tap of a kernel whose taps form the
    groups). The projection is the same threshold with each entry clipped to
    its own interval, and a group can be feasible only if
    $\sum_g \ell_i \le s \le \sum_g u_i$: both checked on first use.

    Args:
        value: Finite target sum $s$ of every group.
        min_value: Finite lower bound $\ell$ of every entry, or an array of them.
        max_value: Finite upper bound $u \ge \ell$ of every entry, or an array.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> import numpy as np
        >>> np.asarray(CappedSimplex(1.0, 0.0, 0.6).project(np.array([3.0, 1.0, 0.0])))
        array([0.6, 0.4, 0. ])
        >>> np.asarray(CappedSimplex(1.0, 0.0, [0.2, 1.0, 1.0]).project(np.array([3.0, 1.0, 0.0])))
        array([0.2, 0.8, 0. ])
    """

    value: float = 1.0
    min_value: float | tuple = 0.0
    max_value: float | tuple = 1.0
    _: KW_ONLY
    axis: AxisLike = None

    def __post_init__(self) -> None:
        if validation.is_array(self.min_value) or validation.is_array(self.max_value):
            lo, hi = validation.finite_entry_interval(self.min_value, self.max_value)
        else:
            lo, hi = validation.ordered_bounds(self.min_value, self.max_value)
        self._normalize(
            value=validation.finite_number(self.value, "value"),
            min_value=lo,
            max_value=hi,
            axis=validation.axis_argument(self.axis),
        )

    @property
    def bounded(self) -> bool:
        return True

    @property
    def layout(self) -> Layout:
        return Groups(self.axis)

    @property
    def per_entry(self) -> bool:
        """Whether a bound is an array (one per entry) rather than one number."""
        return isinstance(self.min_value, tuple) or isinstance(self.max_value, tuple)

    def _check_fit(self, layout: Resolved, owner: str) -> None:
        if not self.per_entry:
            validation.sum_fits(layout.size, self.value, self.min_value, self.max_value, owner)  # type: ignore[arg-type]
            return
        for name in ("min_value", "max_value"):
            validation.entry_bound_fits(getattr(self, name), name, layout.shape, owner)
        low, high = (
            np.broadcast_to(np.asarray(bound, np.float64), layout.shape).sum(axis=layout.axes)
            for bound in (self.min_value, self.max_value)
        )
        validation.group_sums_fit(low, high, self.value, owner)

    def _bound_rows(self, layout: Resolved) -> tuple[Any, Any, Any, Any]:
        """The bounds as given to ``_solve_free`` (numbers, or ``(groups, n)``
        rows of per-entry bounds) and as tensors in the compute dtype."""
        lo: Any = self.min_value
        hi: Any = self.max_value
        dtype = layout.compute_dtype
        if self.per_entry:  # (groups, n) rows of bounds beside the rows of entries
            lo, hi = (
                layout.to_rows(
                    ops.broadcast_to(ops.convert_to_tensor(np.asarray(b, dtype)), layout.shape)
                )[0]
                for b in (lo, hi)
            )
        return (
            lo,
            hi,
            ops.convert_to_tensor(lo, dtype=dtype),
            ops.convert_to_tensor(hi, dtype=dtype),
        )

    def _tangent(self, x: Any, g: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(g)
        entries = layout.to_rows(x)[0]
        _, _, lo, hi = self._bound_rows(layout)
        # A half-precision weight holds its bound rounded to its dtype.
        eps = EPSILON[layout.dtype]
        at_lo = entries <= lo + eps * ops.abs(lo)
        at_hi = entries >= hi - eps * ops.abs(hi)
        return restore(_tangent_rows(rows, at_lo, at_hi))

    def _project(self, x: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(reductions.largest_for_infinite(x))
        total = self.value
        lo, hi, lo_t, hi_t = self._bound_rows(layout)
        # The clipped sum is n*hi at tau = min(w) - hi and n*lo at tau = max(w) - lo.
        left = ops.min(rows - hi_t, axis=-1, keepdims=True)
        right = ops.max(rows - lo_t, axis=-1, keepdims=True)
        return restore(_capped_rows(rows, total, (lo, hi), (lo_t, hi_t), (left, right)))


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class L1Ball(Set):
    r"""Every group's l1 norm at most $r$: sparse, bounded filters.

    $$
    C = \{w : \|w_g\|_1 \le r\}, \qquad
    P(w)_i = \operatorname{sign}(w_i) \max(|w_i| - \tau_g, 0)
    $$

    where $\tau_g$ is the simplex threshold of $|w_g|$ for the sum $r$
    (Duchi et al., ICML 2008, §4) for groups outside the ball; groups inside
    are returned unchanged.

    Args:
        radius: Positive radius $r$.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> import numpy as np
        >>> np.asarray(L1Ball(1.0).project(np.array([2.0, -1.0, 0.0])))
        array([ 1., -0.,  0.])
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
    def bounded(self) -> bool:
        return True

    @property
    def layout(self) -> Layout:
        return Groups(self.axis)

    def _project(self, x: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(reductions.largest_for_infinite(x))
        magnitude = ops.abs(rows)
        inside = ops.sum(magnitude, axis=-1, keepdims=True) <= self.radius
        shrunk = ops.sign(rows) * _simplex_rows(magnitude, self.radius)
        return restore(ops.where(inside, rows, shrunk))


def _simplex_rows(rows: Any, value: float) -> Any:
    """Projection of every row of ``rows`` onto the simplex of sum ``value`` (> 0)."""
    top = ops.max(rows, axis=-1, keepdims=True)
    left, _ = _bisect(
        lambda t: ops.sum(ops.relu(rows - t), axis=-1, keepdims=True), value, top - value, top
    )
    # The support: entries above every threshold in the bracket, and the
    # maximum always (the bracket collapses onto it when value < spacing).
    support = ops.logical_or(rows > left, rows >= top)
    # Entries that land at or below 0 are not in it: solve once more without them.
    support = ops.logical_and(support, _share(rows, support, value) > 0)
    projected = ops.where(support, ops.relu(_share(rows, support, value)), ops.zeros_like(rows))
    # A NaN compares false everywhere, so it would leave a row of zeros
    # (off the set, silently): make its whole row NaN instead.
    has_nan = ops.any(ops.isnan(rows), axis=-1, keepdims=True)
    return ops.where(has_nan, ops.full_like(rows, float("nan")), projected)


def _tangent_rows(g: Any, at_lo: Any, at_hi: Any) -> Any:
    """Each row of ``g`` kept to the tangent cone of a capped simplex at a point
    with the entries ``at_lo`` (``at_hi``) on their lower (upper) bounds.

    The cone is ``{d : sum(d) = 0, d_i >= 0 at a lower bound, d_i <= 0 at an
    upper one}``; the nearest ``d`` to ``-g`` is ``-t`` with ``t = clip(g - s,
    l, u)`` (``u_i = 0`` at a lower bound, ``l_i = 0`` at an upper one, else
    infinite) and ``s`` the threshold at which ``t`` sums to 0: the capped
    simplex's own problem with target 0, solved the same way. ``s`` lies in
    ``[min g, max g]``, where the sum falls from ``>= 0`` to ``<= 0``.
    """
    infinity = ops.full_like(g, float("inf"))
    lo = ops.where(at_hi, ops.zeros_like(g), -infinity)
    hi = ops.where(at_lo, ops.zeros_like(g), infinity)
    bracket = (ops.min(g, axis=-1, keepdims=True), ops.max(g, axis=-1, keepdims=True))
    return _capped_rows(g, 0.0, (lo, hi), (lo, hi), bracket)


def _tangent_above_zero_columns(g: Any, at_zero: Any) -> Any:
    """Each column of ``g`` kept to the simplex's tangent cone at a point with
    the entries ``at_zero`` on 0: ``_tangent_rows`` without upper bounds (on
    columns), exact, in a few sweeps.

    ``t = g - s`` on the free entries and ``min(g - s, 0)`` on those at 0,
    summing to 0: ``s`` is the mean of ``g`` over the free entries and those
    at 0 with ``g_i < s``. That sum is concave and decreasing in ``s``, so
    Newton's method from ``s`` = the mean over the free entries (where the
    sum is ``<= 0``) never passes the root: each sweep drops the entries at 0
    no longer below ``s`` (Michelot's iteration) and it ends when one drops
    none. That is at most one sweep per entry, and a handful for gradients,
    against a bisection's 45 evaluations of the sum.
    """
    free = ops.logical_not(at_zero)
    # Sums of g * 2**-k (exact scaling, 2**k >= n) cannot overflow.
    scale = 2.0 ** math.ceil(math.log2(max(g.shape[0], 1)))
    scaled = g / scale
    zero = ops.zeros_like(g)

    def mean_over(mask: Any) -> Any:
        count = ops.sum(ops.cast(mask, g.dtype), axis=0, keepdims=True)
        total = ops.sum(ops.where(mask, scaled, zero), axis=0, keepdims=True)
        return total * (scale / ops.where(count > 0, count, ops.ones_like(count)))

    def unfinished(s: Any, pulled: Any, changed: Any) -> Any:
        return changed

    def sweep(s: Any, pulled: Any, changed: Any) -> tuple[Any, Any, Any]:
        s = mean_over(ops.logical_or(free, pulled))
        still = ops.logical_and(pulled, g < s)
        return s, still, ops.any(ops.not_equal(still, pulled))

    s = mean_over(free)
    pulled = ops.logical_and(at_zero, g < s)
    s, pulled, _ = ops.while_loop(unfinished, sweep, (s, pulled, ops.convert_to_tensor(True)))
    # The entries pulled in have g < s: their g - s is already negative.
    held = ops.logical_and(at_zero, ops.logical_not(pulled))
    return ops.where(held, zero, g - s)


def _capped_rows(
    rows: Any, total: float, bounds: tuple[Any, Any], tensors: tuple[Any, Any], bracket: Any
) -> Any:
    """``clip(rows - tau, lo, hi)`` with one ``tau`` per row, in ``bracket``, at
    which each row sums to ``total``: bisection, then the exact finish.

    ``bounds`` are as ``_solve_free`` takes them (numbers, or rows of per-entry
    bounds), ``tensors`` the same in the compute dtype.
    """
    lo, hi = bounds
    lo_t, hi_t = tensors

    def total_at(tau: Any) -> Any:
        return ops.sum(ops.clip(rows - tau, lo_t, hi_t), axis=-1, keepdims=True)

    # The bracket can span the float range (a group holding -3e38 and 1):
    # narrow it by magnitude first, so the halvings in value reach adjacent floats.
    left, right = _narrow_by_magnitude(total_at, total, *bracket)
    left, right = _bisect(total_at, total, left, right, halvings=_AFTER_NARROWING)
    # tau lies in [left, right] (up to the rounding of its ends): entries
    # beyond a bound for every tau there are fixed; the rest are free.
    at_lo = rows - left < lo_t
    at_hi = rows - right > hi_t
    free, p = _solve_free(rows, at_lo, at_hi, lo, hi, total)
    # Free entries that land on a bound belong to it: solve once more without them.
    at_lo = ops.logical_or(at_lo, ops.logical_and(free, p <= lo_t))
    at_hi = ops.logical_or(at_hi, ops.logical_and(free, p >= hi_t))
    free, p = _solve_free(rows, at_lo, at_hi, lo, hi, total)
    return ops.where(free, ops.clip(p, lo_t, hi_t), ops.where(at_hi, hi_t, lo_t))


# Halvings from a bracket narrowed by magnitude (ends within 2^16, 2^32 of
# each other, so at most that many times wider than the root) to adjacent
# floats: 16 + 23 + 1 bits in float32, 32 + 52 + 1 in float64.
_AFTER_NARROWING = {"float32": 40, "float64": 85}


def _narrow_by_magnitude(
    total_at: Callable[[Any], Any], total: float, left: Any, right: Any
) -> tuple[Any, Any]:
    """``[left, right]`` narrowed around the root of the non-increasing
    ``total_at(tau) = total`` until its ends are within a factor 2^16
    (float32; 2^32 in float64) of each other, wherever they started.

    Each step tries the geometric midpoint (0 for a bracket across 0, and
    the smallest normal float in place of 0 at an end), so the log of the
    ends' ratio halves: 5 steps in float32 (7 in float64) bring the float
    range down to that factor, within which ``_bisect``'s halvings in value
    reach adjacent floats.
    """
    dtype = backend.standardize_dtype(left.dtype)
    tiny = ops.convert_to_tensor(np.finfo(dtype).tiny, dtype=dtype)

    def geometric(a: Any, b: Any) -> Any:
        size = ops.sqrt(reductions.maximum(ops.abs(a), tiny)) * ops.sqrt(
            reductions.maximum(ops.abs(b), tiny)
        )
        across = ops.logical_and(a < 0, b > 0)
        return ops.where(across, ops.zeros_like(a), ops.where(b <= 0, -size, size))

    steps = 7 if dtype == "float64" else 5
    return _bisection(total_at, total, left, right, geometric, steps)


def _solve_free(
    rows: Any, at_lo: Any, at_hi: Any, lo: Any, hi: Any, total: float
) -> tuple[Any, Any]:
    """The free entries (at neither bound) and their values when the rest sit at the bounds.

    ``lo`` and ``hi`` are numbers, or rows of per-entry bounds shaped like ``rows``.
    """
    free = ops.logical_not(ops.logical_or(at_lo, at_hi))
    fixed = _at_bound(at_lo, lo, rows) + _at_bound(at_hi, hi, rows)
    return free, _share(rows, free, total - fixed)


def _at_bound(mask: Any, bound: Any, rows: Any) -> Any:
    """The sum per row of the entries that ``mask`` puts at ``bound``."""
    if isinstance(bound, float):  # one rounding: the count times the bound
        return bound * _count(mask, rows.dtype)
    return ops.sum(ops.where(mask, bound, ops.zeros_like(rows)), axis=-1, keepdims=True)


def _share(rows: Any, free: Any, target: Any) -> Any:
    """The free entries shifted by one amount per row so that they sum to ``target``.

    ``(w - mean_F) + target / |F|``, with the rounding error of ``mean_F``
    removed too (the deviations of entries within a factor 2 of the mean are
    exact, so their sum is that error): the target is never added to, or
    subtracted from, a number of the size of ``w``. Rows without free
    entries give ``target`` (unused by the callers).
    """
    zero = ops.zeros_like(rows)
    count = _count(free, rows.dtype)
    safe = ops.where(count > 0, count, ops.ones_like(count))
    mean = _mean(ops.where(free, rows, zero), safe)
    deviation = ops.where(free, rows - mean, zero)
    return (deviation - _mean(deviation, safe)) + target / safe


def _mean(values: Any, count: Any) -> Any:
    """``sum(values) / count`` per row, with no partial sum above ``max|values|``.

    The sum is taken of ``values * 2**-k`` with ``2**k >= n`` (exact scaling),
    so entries near the dtype's largest number cannot overflow it; as a
    matrix-vector product with a constant vector of ``2**-k``, which XLA's CPU
    backend runs at memory speed (a reduction of ``values * 2**-k`` costs an
    extra pass).
    """
    n = values.shape[-1]
    scale = 2.0 ** math.ceil(math.log2(max(n, 1)))
    weights = ops.full((n,), 1.0 / scale, dtype=values.dtype)
    return ops.einsum("ij,j->i", values, weights)[:, None] * (scale / count)


def _count(mask: Any, dtype: str) -> Any:
    return ops.sum(ops.cast(mask, dtype), axis=-1, keepdims=True)


def _bisect(
    total_at: Callable[[Any], Any],
    total: float,
    left: Any,
    right: Any,
    *,
    halvings: dict[str, int] | None = None,
) -> tuple[Any, Any]:
    """``[left, right]`` halved until it brackets the root of the non-increasing
    ``total_at(tau) = total`` to the dtype's resolution.

    The count is fixed per dtype, so it compiles to one loop: by default 64
    halvings in float32 and 128 in float64, which reach adjacent floats when
    the bracket is at most about 2^40 (2^75) times wider than the root's
    magnitude; ``halvings`` gives fewer for brackets known to be narrower.
    """

    counts = halvings or {"float32": 64, "float64": 128}
    dtype = backend.standardize_dtype(left.dtype)
    steps = counts["float64" if dtype == "float64" else "float32"]
    return _bisection(total_at, total, left, right, lambda a, b: 0.5 * (a + b), steps)


def _bisection(
    total_at: Callable[[Any], Any],
    total: float,
    left: Any,
    right: Any,
    midpoint: Callable[[Any, Any], Any],
    steps: int,
) -> tuple[Any, Any]:
    """``steps`` bisection steps on ``[left, right]``, each at ``midpoint(a, b)``,
    keeping the root of the non-increasing ``total_at(tau) = total`` inside."""

    def step(_: Any, bracket: tuple[Any, Any]) -> tuple[Any, Any]:
        a, b = bracket
        mid = midpoint(a, b)
        above = total_at(mid) > total  # the root lies right of mid
        return ops.where(above, mid, a), ops.where(above, b, mid)

    return ops.fori_loop(0, steps, step, (left, right))
