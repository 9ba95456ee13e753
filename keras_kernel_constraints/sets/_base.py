"""The abstract set: validated parameters, a layout, a projection and facts."""

from __future__ import annotations

import abc
from typing import Any

from keras import ops

from keras_kernel_constraints._core import dtypes
from keras_kernel_constraints._core.layout import Layout, ResolvedLayout
from keras_kernel_constraints._core.params import Parameters

PACKAGE_SETS: dict[str, type[Set]] = {}
"""The package's own sets by class name, filled as their modules define them
(``sets.ALL_SETS`` is the public, ordered list); for decoding saved members."""


class Set(Parameters, abc.ABC):
    r"""A closed set of weights $C$, with its Euclidean projection.

    $$
    P_C(w) = \underset{p \in C}{\mathrm{arg\,min}}\, \|p - w\|_2
    $$

    A set is a frozen value: its parameters are checked at construction and
    its config mirrors its constructor. It knows nothing of Keras layers:
    the constraints, penalties and projection functions of this package are
    thin adapters over it.

    Subclasses are frozen dataclasses (``frozen=True, repr=False,
    eq=False``: equality and repr come from the config) whose fields are
    their parameters, checked in ``__post_init__``; they implement ``layout``
    and ``_project``, and optionally ``_check_fit`` (conditions on the group
    size), ``_distance`` (a closed-form distance, for penalties) and
    ``convex``.

    Example:

        A set of your own: the non-positive orthant.

        >>> import dataclasses
        >>> from keras_kernel_constraints.sets import Elementwise
        >>> @dataclasses.dataclass(frozen=True, repr=False, eq=False)
        ... class NonPositive(Set):
        ...     @property
        ...     def layout(self):
        ...         return Elementwise()
        ...     def _project(self, x, layout):
        ...         return -keras.ops.relu(-x)
        >>> import numpy as np
        >>> np.asarray(NonPositive().project(np.array([-1.0, 2.0])))
        array([-1.,  0.])
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith(
            "keras_kernel_constraints.sets."
        ) and not cls.__name__.startswith("_"):
            PACKAGE_SETS[cls.__name__] = cls

    @property
    def convex(self) -> bool:
        """Whether the set is convex: its projection is then unique and
        non-expansive, and averages of feasible points stay feasible."""
        return True

    @property
    def bounded(self) -> bool:
        """Whether the set is bounded. Then the projections of a point running
        off to infinity converge, and ``project`` maps infinite entries to
        that limit (``reductions.largest_for_infinite`` reads them as the dtype's largest
        finite number)."""
        return False

    @property
    @abc.abstractmethod
    def layout(self) -> Layout:
        """Which entries of a weight the set constrains together."""

    def resolve(
        self, shape: tuple[int, ...], dtype: str, owner: str | None = None
    ) -> ResolvedLayout:
        """The layout resolved against a weight: raises ``ValueError`` naming
        ``owner`` (default: the class name) if the weight does not fit."""
        owner = owner or type(self).__name__
        layout = self.layout.resolve(tuple(shape), dtype, owner)
        self._check_fit(layout, owner)
        return layout

    def project(self, w: Any, *, owner: str | None = None) -> Any:
        """The projection of tensor ``w``: same shape and dtype, ``keras.ops`` only.

        Checks the weight (a float dtype, a shape that fits the layout), works
        in float32 for half precision, and returns a weight without entries
        as it is. ``owner`` names the caller in errors (default: the class).
        """
        owner = owner or type(self).__name__
        w, dtype = dtypes.float_tensor(w, owner)
        layout = self.resolve(tuple(w.shape), dtype, owner)
        if layout.empty:
            return w
        out = self._project(ops.cast(w, layout.compute_dtype), layout)
        return ops.cast(out, dtype)

    @abc.abstractmethod
    def _project(self, x: Any, layout: ResolvedLayout) -> Any:
        """The projection of ``x`` (compute dtype, non-empty, layout checked)."""

    def _check_fit(self, layout: ResolvedLayout, owner: str) -> None:
        """Raise ``ValueError`` naming ``owner`` if no weight of this layout can be feasible."""
        # A statement, not just the docstring: TensorFlow's autograph fails on
        # (and warns about) a function whose body it sees as empty.
        return None

    def distance(self, w: Any, *, owner: str | None = None) -> Any:
        """Per-group Euclidean distance to the set, kept broadcastable, in closed form.

        Computed in the weight's compute dtype. Raises ``NotImplementedError``
        for sets without a closed form (``has_distance`` is False); measure
        those as ``||w - project(w)||``.
        """
        owner = owner or type(self).__name__
        w, dtype = dtypes.float_tensor(w, owner)
        layout = self.resolve(tuple(w.shape), dtype, owner)
        return self._distance(ops.cast(w, layout.compute_dtype), layout)

    @property
    def has_distance(self) -> bool:
        """Whether the set computes its distance in closed form."""
        return type(self)._distance is not Set._distance

    def _distance(self, x: Any, layout: ResolvedLayout) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form distance.")

    def tangent(self, w: Any, g: Any, *, owner: str | None = None) -> Any:
        r"""The gradient ``g`` at a point ``w`` of the set, kept to the set's
        tangent cone: ``t`` with $-t = P_{T_C(w)}(-g)$.

        $T_C(w)$ holds the directions along which a point of the set stays
        in it to first order (a subspace on a smooth manifold, a cone at a
        bound), and $-t$ is the one nearest to the descent direction $-g$:
        a component that would push ``w`` out of the set is removed, one
        that moves it along or into the set is kept. ``w`` must lie in the
        set (to rounding), as a projected weight does. Shaped and typed
        like ``g``; computed in ``w``'s compute dtype.

        Sets without a map (``has_tangent`` is False) return ``g`` as it is:
        the step is then the plain projected gradient step.
        """
        owner = owner or type(self).__name__
        w, dtype = dtypes.float_tensor(w, owner)
        g, g_dtype = dtypes.float_tensor(g, owner)
        if tuple(g.shape) != tuple(w.shape):
            raise ValueError(
                f"{owner}: the gradient's shape {tuple(g.shape)} differs from the "
                f"weight's shape {tuple(w.shape)}."
            )
        layout = self.resolve(tuple(w.shape), dtype, owner)
        if layout.empty or not self.has_tangent:
            return g
        compute = layout.compute_dtype
        out = self._tangent(ops.cast(w, compute), ops.cast(g, compute), layout)
        return ops.cast(out, g_dtype)

    @property
    def has_tangent(self) -> bool:
        """Whether the set restricts gradients to its tangent cone (``tangent``)."""
        return type(self)._tangent is not Set._tangent

    def _tangent(self, x: Any, g: Any, layout: ResolvedLayout) -> Any:
        """``g`` kept to the tangent cone at ``x`` (compute dtype, layout checked)."""
        return g


def tangent_at_bounds(x: Any, g: Any, lo: Any, hi: Any) -> Any:
    """``g`` with each component that would push ``x`` past a bound it sits on
    removed: a descent step ``-g`` may not lower an entry at ``lo`` nor raise
    one at ``hi``; either bound may be infinite (never reached)."""
    # where(), not minimum()/maximum(): on PyTorch, Keras's minimum of two
    # float64 tensors returns float32. A NaN gradient stays NaN.
    zero = ops.zeros_like(g)
    g = ops.where(ops.logical_and(x <= lo, g > zero), zero, g)
    return ops.where(ops.logical_and(x >= hi, g < zero), zero, g)
