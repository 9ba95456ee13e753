"""Orthonormal columns (or rows): the polar factor by an unrolled Newton–Schulz iteration."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core import reductions
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.layout import ResolvedLayout as Resolved
from keras_kernel_constraints._core.params import is_plain_int
from keras_kernel_constraints.parametrizations._base import Parametrization, register
from keras_kernel_constraints.parametrizations.entries import smallest_normal

# X <- (a I + b G + c G^2) X with G = X X^T: the quintic Newton-Schulz step
# for the polar factor, 15/8, -5/4, 3/8 (Higham, 2008, section 8.3).
_QUINTIC = (15.0 / 8.0, -5.0 / 4.0, 3.0 / 8.0)


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Orthogonal(Parametrization):
    r"""Orthonormal columns (or rows) per matrix: the polar factor, by Newton–Schulz.

    The weight is read as a matrix $V$ with one column per group (the
    entries along ``axis``; by default every axis but the last, so a
    ``(kh, kw, in, out)`` kernel is the ``(kh·kw·in) × out`` matrix), and
    mapped to the nearest matrix with orthonormal columns (tall $V$) or rows
    (wide $V$), its polar factor:

    $$
    f(V) = V (V^\top V)^{-1/2} = U W^\top \quad (V = U \Sigma W^\top), \qquad
    f^{-1}(Q) = Q
    $$

    Computed without an SVD (slow under XLA on TensorFlow's CPU backend,
    and with no gradient at repeated singular values): $V$ is scaled by
    $\sqrt{\|V^\top V\|_\infty} \ge \sigma_{\max}$, then ``iterations``
    quintic Newton–Schulz steps $X \leftarrow X(\tfrac{15}{8} I -
    \tfrac{5}{4} G + \tfrac{3}{8} G^2)$, $G = X^\top X$ (Higham, *Functions
    of Matrices*, 2008, §8.3), unrolled so that every backend
    differentiates it. Each step multiplies a small singular value by
    15/8 and then converges with order five; 16 steps (the default) reach
    the polar factor to float32 rounding for condition numbers up to about
    $10^3$ (the measured distances are in the documentation). An
    orthonormal $V$ is a fixed point, so a weight starts where
    ``right_inverse`` puts it. ``right_inverse`` is the projection onto
    ``sets.Orthogonal`` (the polar factor to float rounding, with a defined
    result for rank-deficient weights), so a weight of zeros starts at an
    orthonormal matrix too. ``forward`` of a free variable whose singular
    values are 0 (the zero matrix) or below about $10^{-4}$ of the largest
    is not orthonormal in those directions: the weight can leave the set
    only where the free variable has.

    Args:
        axis: Axes whose entries form one column; ``None`` means every axis
            but the last. The weight must have rank >= 2.
        iterations: Newton–Schulz steps, an int >= 1.

    Example:

        >>> import numpy as np
        >>> q = np.asarray(Orthogonal().forward(np.array([[2.0, 1.0], [0.0, 1.0], [0.0, 0.0]])))
        >>> np.round(q.T @ q, 6)
        array([[1., 0.],
               [0., 1.]])
    """

    _: KW_ONLY
    axis: AxisLike = None
    iterations: int = 16

    def __post_init__(self) -> None:
        if not is_plain_int(self.iterations) or self.iterations < 1:
            raise ValueError(f"`iterations` must be an int >= 1; got {self.iterations!r}.")
        self._normalize(iterations=int(self.iterations))
        super().__post_init__()  # the set checks `axis`

    @property
    def set(self) -> sets.Set:
        return sets.Orthogonal(axis=self.axis)

    def _forward(self, v: Any, layout: Resolved) -> Any:
        wide, restore = _wide(v, layout)
        gram = _gram(wide)
        bound = ops.max(ops.sum(ops.abs(gram), axis=-1))
        x = wide / ops.sqrt(reductions.maximum(bound, smallest_normal(layout)))
        a, b, c = _QUINTIC
        identity = ops.eye(gram.shape[0], dtype=layout.compute_dtype)
        for _ in range(self.iterations):
            gram = _gram(x)
            # einsum, not matmul: Keras computes PyTorch's float64 matmul in float32.
            x = ops.einsum(
                "ij,jk->ik", a * identity + b * gram + c * ops.einsum("ij,jk->ik", gram, gram), x
            )
        return restore(x)

    def _right_inverse(self, w: Any, layout: Resolved) -> Any:
        return self.set._project(w, layout)


def _gram(x: Any) -> Any:
    """``x xᵀ``."""
    return ops.einsum("ik,jk->ij", x, x)


def _wide(x: Any, layout: Resolved) -> tuple[Any, Any]:
    """The weight's one matrix with no more rows than columns, and the way back."""
    matrices, restore = layout.to_matrices(x)
    m = matrices[0]
    if m.shape[0] <= m.shape[1]:
        return m, lambda y: restore(y[None])
    return ops.transpose(m), lambda y: restore(ops.transpose(y)[None])
