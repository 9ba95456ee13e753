"""How far a weight is from a constraint's set, measured in NumPy.

Written from each class's documented set, independently of the library's
projections, so training tests can check feasibility without trusting the
code under test. ``allowed(constraint, w, dtype)`` is the tolerance for a
weight stored in ``dtype`` (see ``tests/helpers.py``).
"""

import numpy as np

from keras_kernel_constraints.constraints import (
    Box,
    CappedSimplex,
    L1Ball,
    L2Ball,
    LinfBall,
    Monotone,
    NonNeg,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from tests.helpers import EPS


def group_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim - 1)) if ndim >= 2 else tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def max_violation(constraint, w):
    """Largest distance-like violation of the set's defining inequalities."""
    w = np.asarray(w, np.float64)
    if isinstance(constraint, NonNeg):
        return max(0.0, -w.min())
    if isinstance(constraint, Box):
        return max(0.0, constraint.min_value - w.min(), w.max() - constraint.max_value)
    if isinstance(constraint, LinfBall):
        return max(0.0, np.abs(w).max() - constraint.radius)
    if isinstance(constraint, Monotone):
        return monotone_violation(constraint, w)
    axes = group_axes(constraint.axis, w.ndim)
    sums = w.sum(axis=axes)
    norms = np.sqrt((w**2).sum(axis=axes))
    if isinstance(constraint, SumTo):
        return np.abs(sums - constraint.value).max()
    if isinstance(constraint, Simplex):
        return max(-w.min(), np.abs(sums - constraint.value).max(), 0.0)
    if isinstance(constraint, CappedSimplex):
        return max(constraint.min_value - w.min(), w.max() - constraint.max_value,
                   np.abs(sums - constraint.value).max(), 0.0)
    if isinstance(constraint, L1Ball):
        return max(0.0, (np.abs(w).sum(axis=axes) - constraint.radius).max())
    if isinstance(constraint, L2Ball):
        return max(0.0, (norms - constraint.radius).max())
    if isinstance(constraint, UnitSphere):
        return np.abs(norms - constraint.radius).max()
    if isinstance(constraint, NormBand):
        return max(0.0, (constraint.min_norm - norms).max(), (norms - constraint.max_norm).max())
    raise AssertionError(f"no feasibility check for {constraint!r}")


def monotone_violation(constraint, w):
    """Largest shortfall of a step below ``min_step``, or of a bound."""
    if w.size == 0:
        return 0.0
    steps = np.diff(w, axis=constraint.axis)
    steps = steps if constraint.increasing else -steps
    worst = [0.0, constraint.min_step - steps.min(initial=np.inf)]
    if constraint.min_value is not None:
        worst.append(constraint.min_value - w.min())
    if constraint.max_value is not None:
        worst.append(w.max() - constraint.max_value)
    return max(worst)


def allowed(constraint, w, dtype="float32", scale=None):
    """Rounding allowance: n * eps * scale for sums, 3 * eps * bound for norms
    (the projection's slack of 2 eps plus the error of its own norm), 2 * eps *
    scale otherwise.

    ``scale`` defaults to the largest magnitude in ``w``; pass the input's
    when it was larger (``p = w - tau`` loses digits to cancellation when
    ``|w|`` is much larger than ``|p|``).
    """
    w = np.asarray(w, np.float64)
    scale = max(1.0, float(np.abs(w).max()) if scale is None else scale)
    if isinstance(constraint, (SumTo, Simplex, CappedSimplex, L1Ball)):
        axes = group_axes(constraint.axis, w.ndim)
        n = int(np.prod([w.shape[a] for a in axes])) if axes else 1
        return n * EPS[dtype] * scale
    if isinstance(constraint, (L2Ball, UnitSphere)):
        return 3 * EPS[dtype] * max(1.0, constraint.radius)
    if isinstance(constraint, NormBand):
        return 3 * EPS[dtype] * max(1.0, constraint.max_norm)
    return 2 * EPS[dtype] * scale


def touches_boundary(constraint, w, dtype="float32"):
    """Whether some entry or group sits on a bound of an inequality set.

    After training towards weights far outside the set, a projection that
    acted leaves the weight on the boundary; one that never acted rarely does.
    Equality sets (SumTo, UnitSphere) are all boundary and return True.
    """
    w = np.asarray(w, np.float64)
    tol = allowed(constraint, w, dtype)
    if isinstance(constraint, (SumTo, UnitSphere)):
        return True
    if isinstance(constraint, NonNeg):
        return bool(np.any(w == 0.0))
    if isinstance(constraint, Box):
        bounds = (constraint.min_value, constraint.max_value)
        return bool(any(np.any(np.abs(w - b) <= tol) for b in bounds))
    if isinstance(constraint, LinfBall):
        return bool(np.any(np.abs(np.abs(w) - constraint.radius) <= tol))
    if isinstance(constraint, Monotone):
        # Active: two neighbours exactly min_step apart (pooled), or a bound.
        steps = np.diff(w, axis=constraint.axis) * (1 if constraint.increasing else -1)
        bounds = [b for b in (constraint.min_value, constraint.max_value) if b is not None]
        return bool(np.any(np.abs(steps - constraint.min_step) <= tol)
                    or any(np.any(np.abs(w - b) <= tol) for b in bounds))
    if isinstance(constraint, Simplex):
        return bool(np.any(w == 0.0))
    if isinstance(constraint, CappedSimplex):
        low, high = constraint.min_value + tol, constraint.max_value - tol
        return bool(np.any(w <= low) or np.any(w >= high))
    axes = group_axes(constraint.axis, w.ndim)
    if isinstance(constraint, L1Ball):
        return bool(np.any(np.abs(np.abs(w).sum(axis=axes) - constraint.radius) <= tol))
    norms = np.sqrt((w**2).sum(axis=axes))
    bounds = [constraint.radius] if isinstance(constraint, L2Ball) else [
        constraint.min_norm, constraint.max_norm]
    return bool(any(np.any(np.abs(norms - b) <= 2 * tol * max(b, 1.0)) for b in bounds))
