"""One spec per set: what the tests know about it, independent of library code.

A ``Spec`` holds, for one set of ``keras_kernel_constraints.sets`` (named by
its class name only, so no library code is trusted):

* ``params``: a hypothesis strategy of valid parameters for a weight shape;
* ``examples``: parameter sets the example-based generic suites run;
* ``violation``: how far a weight is from the set, in NumPy, written from
  the set's definition;
* ``allowance``: the rounding a weight stored in a dtype may show;
* ``touches_boundary``: whether a weight sits on a bound (a projection that
  acted leaves it there);
* ``reference``: an independent projection (NumPy, another algorithm), or
  ``None`` for sets whose exactness module checks an optimizer instead;
* ``bad_arguments``: constructor arguments that must raise ``ValueError``,
  each with the parameter it must name (or a regex of the message);
* ``extremes``: inputs at the edge of the dtype's range with their exact
  projections (the target of a sum must survive any scale);
* ``convex``, ``continuous`` (False where a rounding change can move the
  projection far: a union of convex sets at a tie), ``sums`` (rounding
  scales with the sum of magnitudes), ``xla_eps`` (compiled against
  eager), and the names of the projection function and of the penalty that
  take the set's own parameters;
* ``shapes``: the weight shapes the example-based suites use (matrix sets
  need square or rank-2 ones), ``cases``: for sets whose parameters depend
  on the shape (matrices), a strategy of ``(shape, params)`` for the
  property tests, and ``minimum_keras``: the oldest Keras the set runs on
  (older ones skip it; ``tests/constraints/test_matrices.py`` checks the
  refusal).

Generic suites parametrize over ``SPECS``; ``tests/test_specs.py`` fails when
a set of the package has no spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.helpers import EPS

Params = dict[str, Any]

DEFAULT_SHAPES = ((3, 3, 2, 4), (6, 5))
"""The weight shapes of a spec that names none (per-entry bounds need their own)."""


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    layout: str  # "elementwise", "groups", "slices" or "matrices"
    params: Callable[[tuple[int, ...], Any], Any]  # (shape, axis) -> strategy of Params
    examples: tuple[Params, ...]
    violation: Callable[[Params, np.ndarray], float]
    allowance: Callable[[Params, np.ndarray, str, float], float]
    touches_boundary: Callable[[Params, np.ndarray, str], bool]
    reference: Callable[[Params, np.ndarray], np.ndarray] | None
    bad_arguments: tuple[tuple[Params, str], ...]
    convex: Callable[[Params], bool] = lambda params: True
    # Whether the projection is continuous: a tiny change of the input (another
    # order of summation) moves the output a little. A union of convex sets
    # (Unimodal's free peak) jumps where two of its pieces are equally near.
    continuous: Callable[[Params], bool] = lambda params: True
    sums: bool = False
    xla_eps: float = 4.0  # XLA may reorder sums: compiled vs eager within this many eps
    function: str | None = None  # the 0.1.0 projection function, if the set has one
    penalty: str | None = None  # a penalty taking the set's own parameters, if any
    # (params, input, dtype, expected): inputs at the edge of the dtype's range
    extremes: tuple[tuple[Params, list, str, list], ...] = ()
    shapes: tuple[tuple[int, ...], ...] = DEFAULT_SHAPES
    cases: Any = None  # a strategy of (shape, params), or None: shape_and_axis + params
    minimum_keras: tuple[int, int] = (3, 0)
    # (params, ndim) -> the axes one group spans, for sets whose groups are
    # not those of ``layout`` (intersections); None: from ``layout``
    groups: Callable[[Params, int], tuple[int, ...]] | None = None

    @property
    def usable(self) -> bool:
        """Whether this Keras runs the set (else the generic suites leave it out)."""
        from tests.helpers import keras_at_least

        return keras_at_least(*self.minimum_keras)

    def group(self, params: Params, ndim: int) -> tuple[int, ...]:
        """The axes of one group: ``()`` elementwise, a whole matrix for matrix sets."""
        if self.groups is not None:
            return self.groups(params, ndim)
        if self.layout == "elementwise":
            return ()
        if self.layout == "matrices":
            from tests.specs.matrices import matrix_group

            return matrix_group(params, ndim)
        return group_axes(params.get("axis"), ndim)


def group_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The group axes of ``axis`` for a weight of rank ``ndim`` (None: all but the last)."""
    if axis is None:
        return tuple(range(ndim - 1)) if ndim >= 2 else tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def rows_of(w: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, Callable]:
    """Group axes last, flattened to ``(groups, n)``, and the map back to ``w``'s shape."""
    others = [a for a in range(w.ndim) if a not in axes]
    perm = others + list(axes)
    moved = np.transpose(w, perm)
    n = int(np.prod([w.shape[a] for a in axes])) if axes else 1
    rows = moved.reshape(-1, n)

    def back(r: np.ndarray) -> np.ndarray:
        return np.transpose(r.reshape(moved.shape), np.argsort(perm))

    return rows, back


def group_size(params: Params, w: np.ndarray) -> int:
    axes = group_axes(params.get("axis"), w.ndim)
    return int(np.prod([w.shape[a] for a in axes])) if axes else 1


def entry_allowance(params: Params, w: np.ndarray, dtype: str, scale: float) -> float:
    """2 eps scale: elementwise sets are exact up to the rounding of their bounds."""
    return 2 * EPS[dtype] * scale


def sum_allowance(params: Params, w: np.ndarray, dtype: str, scale: float) -> float:
    """n eps scale for a group of n entries: the rounding of a sum."""
    return group_size(params, w) * EPS[dtype] * scale


def spec_of(obj: Any) -> tuple[Spec, Params]:
    """The spec of a set, constraint or penalty's set, and its parameters."""
    for klass in type(obj).__mro__:
        if klass.__module__.startswith("keras_kernel_constraints.sets") and klass.__name__ in SPECS:
            return SPECS[klass.__name__], obj.get_config()
    raise LookupError(f"no spec for {obj!r}")


def max_violation(obj: Any, w: Any) -> float:
    spec, params = spec_of(obj)
    w = np.asarray(w, np.float64)
    return 0.0 if w.size == 0 else float(spec.violation(params, w))


def allowed(obj: Any, w: Any, dtype: str = "float32", scale: float | None = None) -> float:
    """Rounding allowance for ``w`` stored in ``dtype``; ``scale`` defaults to max|w|."""
    spec, params = spec_of(obj)
    w = np.asarray(w, np.float64)
    scale = max(1.0, float(np.abs(w).max(initial=0.0)) if scale is None else scale)
    return spec.allowance(params, w, dtype, scale)


def touches_boundary(obj: Any, w: Any, dtype: str = "float32") -> bool:
    spec, params = spec_of(obj)
    return spec.touches_boundary(params, np.asarray(w, np.float64), dtype)


from tests.specs import affine, intersect, matrices, monotone, norms, simplex

ALL_SPECS: dict[str, Spec] = {
    spec.name: spec
    for module in (affine, simplex, norms, monotone, matrices, intersect)
    for spec in module.SPECS
}
"""Every set's spec."""

SPECS: dict[str, Spec] = {name: spec for name, spec in ALL_SPECS.items() if spec.usable}
"""The specs of the sets this Keras runs: what the generic suites iterate."""
