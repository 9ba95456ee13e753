"""Entrywise maps: positive entries (softplus) and entries in an open box (sigmoid)."""

from __future__ import annotations

import dataclasses
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions, validation
from keras_kernel_constraints._core.dtypes import MIN_EXPONENT
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints.parametrizations._base import Parametrization, register


def smallest_normal(layout: Resolved) -> Any:
    """The smallest normal number of the compute dtype, as a tensor of it."""
    value = 2.0 ** MIN_EXPONENT[layout.compute_dtype]
    return ops.convert_to_tensor(value, dtype=layout.compute_dtype)


def inverse_softplus(y: Any, floor: Any) -> Any:
    """``v`` with ``softplus(v) = y`` for ``y > 0``; ``y`` below ``floor`` reads as ``floor``.

    ``log(expm1(y))`` written as ``y + log(-expm1(-y))``, which neither
    overflows for large ``y`` nor loses ``y`` near 0.
    """
    y = reductions.maximum(y, floor)
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
    -\infty$, where its gradient vanishes. ``right_inverse`` reads a weight
    at or below $\ell$ as $\ell$ plus the dtype's smallest normal number
    (a free value near $-87$ in float32): start from weights inside the set
    (an initializer such as ``RandomUniform(0.01, 0.1)``) so that every
    entry trains.

    Args:
        min_value: The finite lower bound $\ell$ (default 0: positive entries).

    Example:

        >>> import numpy as np
        >>> np.round(np.asarray(Positive().forward(np.array([-30.0, 0.0, 30.0]))), 4)
        array([ 0.    ,  0.6931, 30.    ])
    """

    min_value: float = 0.0

    def __post_init__(self) -> None:
        self._normalize(min_value=validation.finite_number(self.min_value, "min_value"))

    @property
    def set(self) -> sets.Set:
        return sets.Box(min_value=self.min_value)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        return layout.bound(self.min_value) + ops.softplus(v)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        return inverse_softplus(w - layout.bound(self.min_value), smallest_normal(layout))


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
    closed ``sets.Box(ℓ, u)``; ``right_inverse`` reads a weight at or beyond
    a bound as that bound moved inwards by the dtype's smallest normal
    number.

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
        floor = smallest_normal(layout)
        return ops.log(reductions.maximum(w - lo, floor)) - ops.log(
            reductions.maximum(hi - w, floor)
        )
