"""Convex and concave sequences: the exact projection by a primal active set.

Every 1-D slice along ``axis`` is one sequence. A slice ``y`` of length
``n`` is projected onto ``{x : x[i-1] - 2 x[i] + x[i+1] >= 0}``, a
polyhedral cone with no pool-adjacent-violators algorithm (cyclic
projections need more than 10,000 sweeps at ``n = 64``). The solution is a
continuous piecewise-linear sequence whose kinks ("knots") sit where the
second difference is positive. The method keeps a working set of second
differences held at zero (the complement are the knots) and a feasible
iterate, as the primal active-set method for quadratic programs does
(Nocedal and Wright, 2006, algorithm 16.3), with every row of a batch at
its own stage:

1. Fit ``y`` by the piecewise-linear sequence with the current knots: the
   normal equations in the hat-function basis are tridiagonal (diagonally
   dominant), solved for all rows at once by parallel cyclic reduction
   over links to the neighbouring knots (pointer jumping, ``log2 n``
   levels, static shapes).
2. If that fit has a negative second difference at a knot, step from the
   iterate towards it as far as feasibility allows and hold the blocking
   second differences at zero.
3. Otherwise read the multipliers of the held ones: on a segment between
   knots ``a < b`` they are ``lambda = -G r`` with ``r`` = fit ``- y`` and
   ``G`` the segment's Green's function
   ``(min(c, j) - a)(b - max(c, j)) / (b - a)``. Negative ones are released
   (all at once); when none is negative (to the rounding of ``G`` applied
   to ``|fit| + |y|``) the fit satisfies the KKT conditions: feasible,
   ``lambda >= 0``, complementary, and ``x - y = D^T lambda``.

The multipliers are computed per segment, never as a running double sum
over the whole slice: the rounding of a knot's value is amplified by the
square of the distance it is summed over, and a global sum made float32
decisions wrong at ``n >= 64``.

Iterations are bounded by ``3 n``; the iterate is feasible at every step,
so a row that ran out (none did in the tests) is convex but not nearest.
Measured: at most ``0.45 n`` iterations on noisy data for ``n`` up to 256.
Each iteration costs ``O(n log n)`` per row: pointer jumping to the
neighbouring knots, the cyclic reduction, and running sums within runs
(doubling, so each sum's rounding is its run's). The arrays each step
reads at the same indices are stacked and gathered together (one gather
per side and level): on small batches the iterations are latency-bound,
and this cut a 10 x 64 kernel's projection from 2.6 to 1.7 ms (TF, XLA, CPU).

Slices of 3 (a 3-tap kernel) have a single second difference and take the
half-space projection in closed form instead: no loop at all.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import KW_ONLY
from typing import Any, ClassVar

from keras import backend, ops

from keras_kernel_constraints._core import dtypes, validation
from keras_kernel_constraints._core.dtypes import EPSILON, MAX_EXPONENT
from keras_kernel_constraints._core.layout import Layout, Slices
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.sets._base import Set

# Rounding multiples of eps in the feasibility and multiplier tests.
_ROUNDING = 4.0


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class _Curvature(Set):
    """Second differences of one sign along ``axis`` (abstract: ``Convex``, ``Concave``)."""

    _: KW_ONLY
    axis: int = 0

    sign: ClassVar[float]

    def __post_init__(self) -> None:
        self._normalize(axis=validation.ordered_axis(self.axis))

    @property
    def layout(self) -> Layout:
        return Slices(self.axis)

    def _project(self, x: Any, layout: Resolved) -> Any:
        rows, restore = layout.to_rows(x)
        if layout.size < 3:
            # Every short slice is in the set; a NaN still poisons its slice,
            # as in every other set (no silent numbers beside it).
            poisoned = ops.any(ops.isnan(rows), axis=-1, keepdims=True)
            return restore(ops.where(poisoned, ops.full_like(rows, float("nan")), rows))
        solution, _ = convex_rows(self._oriented(rows))
        return restore(self._oriented(solution))

    def _oriented(self, rows: Any) -> Any:
        """The rows as a convex problem sees them: negated for concave (``0 - x``,
        so a zero stays +0)."""
        return rows if self.sign > 0 else 0.0 - rows

    def certificate(self, w: Any) -> dict[str, Any]:
        """The projection of ``w`` with its KKT certificate, per slice.

        Returns a dict of tensors: ``projection`` (shaped like ``w``), and
        for every slice (in the order of the rows of ``layout.to_rows``):
        ``iterations``, ``primal`` (the largest negative second difference,
        sign-corrected for ``Concave``), ``dual`` (the largest negative
        multiplier), and ``stationarity`` (``max |x - y - D^T lambda|``
        relative to ``max |y| + 4 max |lambda|``). All are zero in exact
        arithmetic; rounding leaves a few eps of the slice's scale.
        """
        owner = type(self).__name__
        w, dtype = dtypes.float_tensor(w, owner)
        layout = self.resolve(tuple(w.shape), dtype, owner)
        x = ops.cast(w, layout.compute_dtype)
        rows, restore = layout.to_rows(x)
        if layout.size < 3:
            zero = ops.zeros((rows.shape[0],), rows.dtype)
            return {
                "projection": w,
                "iterations": zero,
                "primal": zero,
                "dual": zero,
                "stationarity": zero,
            }
        solution, report = convex_rows(self._oriented(rows), certify=True)
        return {"projection": ops.cast(restore(self._oriented(solution)), dtype), **report}


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Convex(_Curvature):
    r"""Every slice along ``axis`` convex: non-negative second differences.

    For a slice $w \in \mathbb{R}^n$:

    $$
    C = \{x : x_{i-1} - 2x_i + x_{i+1} \ge 0,\ 0 < i < n - 1\}, \qquad
    P(w) = w + D^\top \lambda,\ \ \lambda = \underset{\lambda \ge 0}{\mathrm{arg\,min}}
    \|D^\top \lambda + w\|_2
    $$

    with $D$ the second-difference matrix: the dual is a non-negative
    least-squares problem. It is solved exactly by a batched primal
    active-set method (module docstring), which ends when the KKT
    conditions hold to rounding; ``certificate(w)`` returns them. Slices
    shorter than 3 are unconstrained.

    Args:
        axis: The one axis of the sequence (an int); every other axis
            indexes independent slices. 0 is the tap axis of a Conv1D
            kernel ``(taps, in, out)``.

    Example:

        >>> import numpy as np
        >>> np.asarray(Convex().project(np.array([0.0, 2.0, 0.0])))
        array([0.66666667, 0.66666667, 0.66666667])
    """

    sign: ClassVar[float] = 1.0


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Concave(_Curvature):
    r"""Every slice along ``axis`` concave: non-positive second differences.

    $P_{\text{concave}}(w) = -P_{\text{convex}}(-w)$; see ``Convex``.

    Args:
        axis: The one axis of the sequence (an int).

    Example:

        >>> import numpy as np
        >>> np.asarray(Concave().project(np.array([1.0, 0.0, 1.0])))
        array([0.66666667, 0.66666667, 0.66666667])
    """

    sign: ClassVar[float] = -1.0


def convex_rows(
    y: Any, max_iterations: int | None = None, *, certify: bool = False
) -> tuple[Any, dict[str, Any]]:
    """Projection of every row of ``y`` (shape ``(rows, n)``, ``n >= 3``) onto the
    convex sequences, and (with ``certify``; else empty) its per-row KKT report.

    ``n = 3`` (a 3-tap kernel) has one second difference: the projection onto
    a half-space, in closed form. Longer rows take the active-set method.
    """
    dtype = backend.standardize_dtype(y.dtype)
    y, unscale = _scaled_below_overflow(y)
    if y.shape[1] == 3:
        x, multiplier = _three_point_rows(y)
        iterations = ops.zeros((y.shape[0],), dtype)
    else:
        x, multiplier, iterations = _active_set_rows(y, max_iterations, certify=certify)
    if not certify:
        return unscale(x), {}
    report = {
        # A row that ran out of iterations reports infinity.
        "iterations": iterations,
        "primal": ops.max(ops.relu(-_second_differences(x)), axis=-1),
        "dual": ops.max(ops.relu(-multiplier), axis=-1),
        # Relative to the size of the terms: x and y, and D^T lambda, whose
        # entries cancel multipliers of up to n^2 times the residual.
        "stationarity": ops.max(ops.abs(x - y - _second_differences_adjoint(multiplier)), axis=-1)
        / ops.maximum(
            ops.max(ops.abs(y), axis=-1) + 4.0 * ops.max(ops.abs(multiplier), axis=-1),
            ops.cast(EPSILON[dtype] ** 2, dtype),
        ),
    }
    report["primal"] = unscale(report["primal"])
    report["dual"] = unscale(report["dual"])
    return unscale(x), report


def _three_point_rows(y: Any) -> tuple[Any, Any]:
    """Rows of 3: ``y - min(d, 0) a / 6`` with ``a = (1, -2, 1)`` and ``d = a . y``,
    and its multiplier ``max(-d, 0) / 6`` (shape ``(rows, 1)``).

    Where the constraint binds, the middle entry is written as the mean of
    the three, ``y_1 + d / 3`` rearranged: the same number, and the limit
    (not ``inf - inf``) when an entry is infinite. A NaN poisons its row, as
    in the active-set method.
    """
    curvature = _second_differences(y)
    binding = curvature < 0
    multiplier = ops.where(binding, curvature / -6.0, ops.zeros_like(curvature))
    # Not ops.mean: Keras averages float64 in float32 on JAX and PyTorch.
    mean = (y[:, :1] + y[:, 1:2] + y[:, 2:]) / 3.0
    x = ops.concatenate(
        [y[:, :1] + multiplier, ops.where(binding, mean, y[:, 1:2]), y[:, 2:] + multiplier],
        axis=-1,
    )
    poisoned = ops.any(ops.isnan(y), axis=-1, keepdims=True)
    return ops.where(poisoned, ops.full_like(x, float("nan")), x), multiplier


def _active_set_rows(y: Any, max_iterations: int | None, *, certify: bool) -> tuple[Any, Any, Any]:
    """The active-set projection of rows of ``n > 3`` (module docstring): the
    solution, the multipliers of its held second differences (with
    ``certify``; else ``None``), and the iterations per row (infinite where a
    row ran out)."""
    count, n = y.shape
    dtype = backend.standardize_dtype(y.dtype)
    max_iterations = 3 * n if max_iterations is None else max_iterations
    exchanges = math.ceil(math.log2(n)) + 4
    geometry = _Geometry(count, n, dtype)
    curvature = _second_differences(y)
    # The linear fit is feasible and holds every second difference at zero,
    # so it fits any first working set: start from the second differences
    # the input already violates.
    x = geometry.fit(y, geometry.segments(ops.zeros((count, n - 2), "bool")))
    held = curvature < 0
    done = ops.zeros((count,), "bool")
    spent = ops.zeros((count,), "int32")

    def unfinished(step, x, held, done, spent):
        return ops.logical_and(step < max_iterations, ops.logical_not(ops.all(done)))

    def iterate(step, x, held, done, spent):
        segments = geometry.segments(held)
        candidate = geometry.fit(y, segments)
        now, then = _second_differences(x), _second_differences(candidate)
        infeasible = ops.logical_and(ops.logical_not(held), then < -geometry.slack(candidate))
        blocked = ops.any(infeasible, axis=-1, keepdims=True)
        gap = ops.maximum(now - then, 0.0)
        ratio = ops.where(
            infeasible,
            ops.maximum(now, 0.0) / ops.where(gap > 0, gap, ops.ones_like(gap)),
            ops.full_like(gap, float("inf")),
        )
        length = ops.minimum(ops.min(ratio, axis=-1, keepdims=True), 1.0)
        stepped = x + length * (candidate - x)
        blocking = ops.logical_and(infeasible, ratio <= length)
        multiplier, tolerance = geometry.multipliers(candidate, y, segments)
        release = ops.logical_and(held, multiplier < -tolerance)
        finished = ops.logical_not(
            ops.logical_or(ops.squeeze(blocked, -1), ops.any(release, axis=-1))
        )
        moving = ops.expand_dims(ops.logical_not(done), -1)
        new_x = ops.where(blocked, stepped, candidate)
        new_held = ops.where(
            blocked,
            ops.logical_or(held, blocking),
            ops.logical_and(held, ops.logical_not(release)),
        )
        # The first steps exchange every wrong guess at once (block principal
        # pivoting, Judice and Pires 1994): fast, but it can cycle. x stays
        # the linear fit, which fits any working set, until the primal
        # method takes over.
        exchanging = step < exchanges
        flipped = ops.where(held, ops.logical_not(release), infeasible)
        optimal = ops.expand_dims(finished, -1)
        new_x = ops.where(exchanging, ops.where(optimal, candidate, x), new_x)
        new_held = ops.where(exchanging, ops.where(optimal, held, flipped), new_held)
        x = ops.where(moving, new_x, x)
        held = ops.where(moving, new_held, held)
        spent = spent + ops.cast(ops.logical_not(done), "int32")
        return step + 1, x, held, ops.logical_or(done, finished), spent

    _, x, held, done, spent = ops.while_loop(unfinished, iterate, (0, x, held, done, spent))
    iterations = ops.where(
        done, ops.cast(spent, dtype), ops.full_like(ops.cast(spent, dtype), float("inf"))
    )
    multiplier = geometry.multipliers(x, y, geometry.segments(held))[0] if certify else None
    return x, multiplier, iterations


def _second_differences(x: Any) -> Any:
    return x[:, :-2] - 2.0 * x[:, 1:-1] + x[:, 2:]


def _second_differences_adjoint(multiplier: Any) -> Any:
    """``D^T lambda`` for ``lambda`` of shape ``(rows, n - 2)``."""
    pad = ops.zeros_like(multiplier[:, :1])
    wide = ops.concatenate([pad, pad, multiplier, pad, pad], axis=-1)
    return wide[:, 2:] - 2.0 * wide[:, 1:-1] + wide[:, :-2]


def _scaled_below_overflow(y: Any) -> tuple[Any, Any]:
    """Rows scaled by a power of two where the method's weighted sums (weights up
    to ``n^2``) could overflow; and the map back."""
    n = y.shape[-1]
    exponent = 2 * (n - 1).bit_length() + 4
    limit = 2.0 ** (MAX_EXPONENT[backend.standardize_dtype(y.dtype)] + 1 - exponent)
    peak = ops.max(ops.abs(y), axis=-1, keepdims=True)
    factor = ops.where(peak >= limit, 2.0**-exponent, 1.0)
    factor = ops.cast(factor, y.dtype)

    def unscale(value: Any) -> Any:
        if len(value.shape) == 1:
            return value / factor[:, 0]
        return value / factor

    return y * factor, unscale


class _Geometry:
    """The piecewise-linear fit with given knots, and the held multipliers."""

    def __init__(self, count: int, n: int, dtype: str) -> None:
        self.count, self.n, self.dtype = count, n, dtype
        self.levels = max(1, math.ceil(math.log2(n)))
        self.index = ops.broadcast_to(ops.arange(n, dtype="int32"), (count, n))
        self.position = ops.cast(ops.arange(n), dtype)
        self.eps = EPSILON[dtype]

    def slack(self, x: Any) -> Any:
        """Rounding of a second difference of ``x``."""
        size = ops.abs(x)
        return _ROUNDING * self.eps * (size[:, :-2] + 2.0 * size[:, 1:-1] + size[:, 2:])

    def knots(self, held: Any) -> Any:
        ends = ops.ones((self.count, 1), "bool")
        return ops.concatenate([ends, ops.logical_not(held), ends], axis=-1)

    def segments(self, held: Any) -> _Segments:
        """The knots of a working set, each position's nearest knots, and the
        runs between knots (a knot starts its run)."""
        knot = self.knots(held)
        last = self.n - 1
        before = ops.where(knot, self.index, ops.maximum(self.index - 1, 0))
        after = ops.where(knot, self.index, ops.minimum(self.index + 1, last))
        links = ops.stack([before, after], axis=-1)
        for _ in range(self.levels):
            links = _jump(links)
        before, after = links[..., 0], links[..., 1]
        run = ops.cumsum(ops.cast(knot, "int32"), axis=1)
        return _Segments(knot, before, after, ops.expand_dims(run, -1))

    def running_sums(self, values: Any, segments: _Segments) -> Any:
        """Inclusive sums of ``values`` (``(rows, n, k)``) within each run.

        Doubling (Hillis and Steele): ``log2 n`` shifted adds, each sum a
        tree over its own run only, so its rounding is that of the run.
        """
        run = segments.run
        shift = 1
        while shift < self.n:
            earlier = ops.concatenate([ops.zeros_like(values[:, :shift]), values[:, :-shift]], 1)
            earlier_run = ops.concatenate([ops.full_like(run[:, :shift], -1), run[:, :-shift]], 1)
            values = values + ops.where(earlier_run == run, earlier, ops.zeros_like(earlier))
            shift *= 2
        return values

    def _run_sums(self, value: Any, segments: _Segments) -> tuple[Any, Any]:
        """Running sums, within each run between knots (knots excluded), of
        ``value`` and of ``(i - a) * value``, ``a`` the run's knot; ``value``
        is ``(rows, n, k)``, ``k`` sequences summed at once."""
        offset = ops.expand_dims(self.position - ops.cast(segments.before, self.dtype), -1)
        inside = ops.expand_dims(ops.logical_not(segments.knot), -1)
        stacked = ops.concatenate([value, offset * value], axis=-1)
        sums = self.running_sums(ops.where(inside, stacked, ops.zeros_like(stacked)), segments)
        k = value.shape[-1]
        return sums[..., :k], sums[..., k:]

    def fit(self, y: Any, segments: _Segments) -> Any:
        """Least-squares fit of every row by the continuous piecewise-linear
        sequence with the given knots."""
        knot, before, after = segments.knot, segments.before, segments.after
        # The knots on either side of each knot (itself at the ends).
        left = ops.concatenate([before[:, :1], before[:, :-1]], axis=-1)
        right = ops.concatenate([after[:, 1:], after[:, -1:]], axis=-1)
        position = self.position
        left_length = position - ops.cast(left, self.dtype)
        right_length = ops.cast(right, self.dtype) - position
        # Hat functions: Σ_{t=1}^{L-1} (t/L)^2 = (L-1)(2L-1)/(6L) on each side of
        # a knot, Σ t(L-t)/L^2 = (L^2-1)/(6L) shared with the next knot.
        diagonal = 1.0 + _own_weight(left_length) + _own_weight(right_length)
        lower = _shared_weight(left_length)
        upper = _shared_weight(right_length)
        # <hat_j, y>: y_j, plus Σ (i - a)/L y_i over the run before j, plus
        # Σ (b - i)/L y_i = Σ y_i - Σ (i - j)/L y_i over the run after it.
        total, moment = self._run_sums(ops.expand_dims(y, -1), segments)
        total, moment = total[..., 0], moment[..., 0]
        one = ops.ones_like(left_length)
        previous_moment = ops.concatenate([ops.zeros_like(moment[:, :1]), moment[:, :-1]], 1)
        rising = ops.where(left_length > 0, previous_moment / ops.maximum(left_length, one), 0.0)
        end_of_run = ops.maximum(right - 1, 0)
        at_end = _take_along_rows(ops.stack([total, moment], axis=-1), end_of_run)
        run_total, run_moment = at_end[..., 0], at_end[..., 1]
        falling = ops.where(
            right_length > 0, run_total - run_moment / ops.maximum(right_length, one), 0.0
        )
        zero = ops.zeros_like(diagonal)
        diagonal = ops.where(knot, diagonal, 1.0)
        lower = ops.where(knot, lower, zero)
        upper = ops.where(knot, upper, zero)
        right_side = ops.where(knot, y + rising + falling, zero)
        values = _cyclic_reduction(diagonal, lower, upper, right_side, left, right, self.levels)
        # Between knots, the straight line.
        start = _take_along_rows(values, before)
        end = _take_along_rows(values, after)
        span = ops.cast(after - before, self.dtype)
        fraction = (position - ops.cast(before, self.dtype)) / ops.where(span > 0, span, 1.0)
        return start + (end - start) * fraction

    def multipliers(self, x: Any, y: Any, segments: _Segments) -> tuple[Any, Any]:
        """The multipliers of the held second differences of the fit ``x``, and
        the rounding each may carry; zero at knots.

        At ``c`` in the run between knots ``a < b`` (length ``L``):
        ``lambda_c = -((b - c) P_c + (c - a) Q_c) / L`` with
        ``P_c = Σ_{a<j<=c} (j - a) r_j`` and ``Q_c = Σ_{c<j<b} (b - j) r_j``,
        ``r`` = fit ``- y``: the segment's Green's function applied to ``r``.
        """
        before, after = segments.before, segments.after
        a = ops.cast(before, self.dtype)
        b = ops.cast(after, self.dtype)
        length = ops.maximum(b - a, ops.ones_like(a))
        end_of_run = ops.maximum(after - 1, 0)

        # The Green's function applied to two sequences at once: the residual
        # and the size of the terms (its rounding).
        value = ops.stack([x - y, ops.abs(x) + ops.abs(y)], axis=-1)
        total, moment = self._run_sums(value, segments)
        at_end = _take_along_rows(ops.concatenate([total, moment], axis=-1), end_of_run)
        run_total, run_moment = at_end[..., :2], at_end[..., 2:]
        a, b, length = (ops.expand_dims(t, -1) for t in (a, b, length))
        position = ops.expand_dims(self.position, -1)
        rest = length * (run_total - total) - (run_moment - moment)
        green = ((b - position) * moment + (position - a) * rest) / length
        held = ops.expand_dims(ops.logical_not(segments.knot), -1)
        green = ops.where(held, green, ops.zeros_like(green))[:, 1:-1]
        return -green[..., 0], _ROUNDING * self.eps * green[..., 1]


@dataclasses.dataclass(frozen=True)
class _Segments:
    knot: Any  # (rows, n) bool: the ends and the free second differences
    before: Any  # (rows, n) int32: the nearest knot at or before each position
    after: Any  # (rows, n) int32: the nearest knot at or after
    run: Any  # (rows, n, 1) int32: the run (from a knot to the next) of each position


def _own_weight(length: Any) -> Any:
    safe = ops.where(length > 0, length, 1.0)
    return ops.where(length > 0, (safe - 1.0) * (2.0 * safe - 1.0) / (6.0 * safe), 0.0)


def _shared_weight(length: Any) -> Any:
    safe = ops.where(length > 0, length, 1.0)
    return ops.where(length > 0, (safe * safe - 1.0) / (6.0 * safe), 0.0)


def _cyclic_reduction(diagonal, lower, upper, right_side, left, right, levels):
    """Solve every row's tridiagonal system over linked unknowns.

    Row ``j`` reads ``lower_j x[left_j] + diagonal_j x_j + upper_j x[right_j]
    = right_side_j``. Each level eliminates both neighbours and links to
    theirs (parallel cyclic reduction with pointer jumping); after
    ``ceil(log2 n)`` levels every row is decoupled. Stable without pivoting
    for diagonally dominant systems, which the hat-function normal
    equations are.
    """
    # One gather per side and level: the four coefficients stacked, and both
    # links jumped at once.
    coefficients = ops.stack([diagonal, lower, upper, right_side], axis=-1)
    links = ops.stack([left, right], axis=-1)
    for _ in range(levels):
        at_left = _take_along_rows(coefficients, links[..., 0])
        at_right = _take_along_rows(coefficients, links[..., 1])
        diagonal, lower, upper, right_side = (coefficients[..., i] for i in range(4))
        alpha = -lower / at_left[..., 0]
        gamma = -upper / at_right[..., 0]
        coefficients = ops.stack(
            [
                diagonal + alpha * at_left[..., 2] + gamma * at_right[..., 1],
                alpha * at_left[..., 1],
                gamma * at_right[..., 2],
                right_side + alpha * at_left[..., 3] + gamma * at_right[..., 3],
            ],
            axis=-1,
        )
        links = _jump(links)
    return coefficients[..., 3] / coefficients[..., 0]


def _take_along_rows(values: Any, indices: Any) -> Any:
    """``values[r, indices[r, i]]`` for ``values`` of shape ``(rows, n)`` or
    ``(rows, n, k)`` and ``indices`` of shape ``(rows, n)``, as one gather from
    the flattened matrix: Keras 3.0's TensorFlow ``take_along_axis`` builds
    its shapes at run time, which XLA refuses."""
    rows, n = indices.shape
    offsets = ops.expand_dims(ops.arange(rows, dtype=indices.dtype) * n, 1)
    flat_indices = ops.reshape(indices + offsets, (-1,))
    if len(values.shape) == 2:
        flat = ops.take(ops.reshape(values, (-1,)), flat_indices)
        return ops.reshape(flat, (rows, n))
    k = values.shape[-1]
    flat = ops.take(ops.reshape(values, (rows * n, k)), flat_indices, axis=0)
    return ops.reshape(flat, (rows, n, k))


def _jump(links: Any) -> Any:
    """One pointer-jumping step for ``k`` link arrays at once: ``links`` is
    ``(rows, n, k)`` and the result ``links[r, links[r, i, c], c]``."""
    rows, n, k = links.shape
    offsets = ops.reshape(ops.arange(rows, dtype=links.dtype) * n, (rows, 1, 1))
    channels = ops.arange(k, dtype=links.dtype)
    flat_indices = ops.reshape((links + offsets) * k + channels, (-1,))
    return ops.reshape(ops.take(ops.reshape(links, (-1,)), flat_indices), (rows, n, k))
