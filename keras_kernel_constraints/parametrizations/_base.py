"""The abstract parametrization: a differentiable map from free variables onto a set."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import keras
from keras import ops

from keras_kernel_constraints._core import dtypes
from keras_kernel_constraints._core.layout import ResolvedLayout
from keras_kernel_constraints._core.params import Parameters
from keras_kernel_constraints.sets import Set

PACKAGE = "keras_kernel_constraints.parametrizations"

register = keras.saving.register_keras_serializable(package=PACKAGE)
"""Class decorator: registers as ``keras_kernel_constraints.parametrizations>Name``.

A package of its own, so a map may share its set's class name (``SumTo``)
without clashing with the constraint registered under that name."""


class Parametrization(Parameters, abc.ABC):
    r"""A differentiable map $f$ onto a set $C$, and a way back.

    $$
    f : \mathbb{R}^{\text{shape}} \to C, \qquad
    f(f^{-1}(w)) = w \ \ \text{for } w \text{ in the interior of } C
    $$

    A weight parametrized by $f$ is $w = f(v)$ for a free trainable
    variable $v$ of the same shape, recomputed in every forward pass, so the
    gradient reaches $v$ through $f$: the optimizer's step sees the set,
    where a constraint projects after a step that did not. ``Parametrized``
    puts a map on a layer's weight.

    ``forward`` is differentiable, ``keras.ops`` only, with static shapes and
    no branching on values: it compiles under XLA on TensorFlow and JAX.
    ``right_inverse`` finds a free variable for a weight: exact on the
    interior of the set, and for any other finite weight a finite ``v``
    whose image is the weight's projection, moved a small margin into the
    interior where the image cannot reach the boundary (each map says by
    how much; far enough that the map's gradient there is not negligible).
    It is used once, to start from existing weights.

    Subclasses are frozen dataclasses like the sets; they implement
    ``set``, ``_forward`` and ``_right_inverse``, and optionally
    ``_check_fit``. The parameters a map shares with its set (same names)
    are checked by building the set, once, at construction. Both public
    methods work in float32 for half precision.

    Example:

        >>> import numpy as np
        >>> from keras_kernel_constraints.parametrizations import SumTo
        >>> kernel = keras.ops.convert_to_numpy(SumTo(1.0).forward(np.array([3.0, -1.0, 0.0])))
        >>> kernel
        array([ 2.66666667, -1.33333333, -0.33333333])
        >>> float(np.sum(kernel))
        1.0
    """

    def __post_init__(self) -> None:
        checked = self.set  # its constructor checks the parameters it shares with the map
        if checked is not None:
            shared = {f.name for f in dataclasses.fields(checked)}  # type: ignore[arg-type]
            self._normalize(
                **{
                    f.name: getattr(checked, f.name)
                    for f in dataclasses.fields(self)  # type: ignore[arg-type]
                    if f.name in shared
                }
            )

    @property
    @abc.abstractmethod
    def set(self) -> Set | None:
        """The closed set that holds every ``forward(v)``; ``None`` where the
        core has no set for it yet (its docstring states the check)."""

    def resolve(
        self, shape: tuple[int, ...], dtype: str, owner: str | None = None
    ) -> ResolvedLayout:
        """Check a weight of ``shape`` and ``dtype``: ``ValueError`` naming ``owner``
        (default: the class) if it is not floating-point or does not fit."""
        owner = owner or type(self).__name__
        if not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"{owner} needs a floating-point weight; got dtype {dtype}. "
                "Integer and boolean weights cannot be parametrized."
            )
        resolved = self._layout(tuple(shape), dtype, owner)
        self._check_fit(resolved, owner)
        return resolved

    def forward(self, v: Any, *, owner: str | None = None) -> Any:
        """The weight $f(v)$: same shape and dtype as ``v``, in the set."""
        return self._apply(self._forward, v, owner)

    def right_inverse(self, w: Any, *, owner: str | None = None) -> Any:
        """A free variable ``v`` with ``forward(v) == w`` on the interior of the set."""
        return self._apply(self._right_inverse, w, owner)

    def _apply(self, method: Any, x: Any, owner: str | None) -> Any:
        owner = owner or type(self).__name__
        x, dtype = dtypes.float_tensor(x, owner)
        layout = self.resolve(tuple(x.shape), dtype, owner)
        if layout.empty:
            return x
        return ops.cast(method(ops.cast(x, layout.compute_dtype), layout), dtype)

    def _layout(self, shape: tuple[int, ...], dtype: str, owner: str) -> ResolvedLayout:
        """The layout of the map's set (override for maps without one)."""
        assert self.set is not None
        return self.set.resolve(shape, dtype, owner)

    def _check_fit(self, layout: ResolvedLayout, owner: str) -> None:
        """Raise ``ValueError`` naming ``owner`` for a shape the map cannot handle."""
        return None

    @abc.abstractmethod
    def _forward(self, v: Any, layout: ResolvedLayout) -> Any:
        """$f(v)$ in the compute dtype (non-empty, layout checked)."""

    @abc.abstractmethod
    def _right_inverse(self, w: Any, layout: ResolvedLayout) -> Any:
        """$f^{-1}(w)$ in the compute dtype (non-empty, layout checked)."""
