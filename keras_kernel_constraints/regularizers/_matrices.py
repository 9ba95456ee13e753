"""Penalties for matrix sets: the Gram residual and the spectral excess."""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY
from typing import Any

from keras import ops

from keras_kernel_constraints import sets
from keras_kernel_constraints._core.layout import AxisLike
from keras_kernel_constraints._core.registry import register
from keras_kernel_constraints.regularizers._base import SetPenalty, _safe_sqrt


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class OrthogonalPenalty(SetPenalty):
    r"""``strength * sum_m ||Wᵀ W - I||_F ** power`` over the matrices, small side.

    $$
    R(W) = \lambda \sum_m \|W_m^\top W_m - I\|_F^p \quad (W_m^\top W_m \text{ on the
    smaller side: } W_m W_m^\top \text{ for a wide matrix})
    $$

    The soft form of ``Orthogonal(axis=..., batch_axis=...)``: zero exactly
    on matrices with orthonormal columns (rows, if wide), a polynomial in
    the weight, so its gradient is smooth everywhere. Keras's
    ``OrthogonalRegularizer`` differs: it normalises the rows or columns
    first and penalises the mean absolute cosine between them, so it pulls
    the angles to 90 degrees but never the norms to 1, and takes rank-2
    weights only.

    Args:
        axis: Rows of each matrix, as for ``Orthogonal``.
        batch_axis: Axes indexing separate matrices.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default, the squared Frobenius residual) or ``1``.

    Example:

        >>> float(OrthogonalPenalty(strength=1.0)(np.array([[2.0, 0.0], [0.0, 1.0]])))
        9.0
    """

    _: KW_ONLY
    axis: AxisLike = None
    batch_axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.Orthogonal

    def violation(self, x: Any) -> Any:
        m, _ = self._layout(x).to_matrices(x)
        if m.shape[1] < m.shape[2]:
            m = ops.transpose(m, (0, 2, 1))
        gram = ops.einsum("bij,bik->bjk", m, m)
        residual = ops.sum(ops.square(gram - ops.eye(m.shape[2], dtype=m.dtype)), axis=(1, 2))
        return ops.sum(residual if self.power == 2 else _safe_sqrt(residual))


@register
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class SpectralBallPenalty(SetPenalty):
    r"""``strength * sum_m (sum_i relu(sigma_i - max_value)**2) ** (power / 2)``.

    $$
    R(W) = \lambda \sum_m \Bigl(\sum_i \max(\sigma_i(W_m) - c, 0)^2\Bigr)^{p/2}
    = \lambda \sum_m \|W_m - P(W_m)\|_F^p
    $$

    The soft form of ``SpectralBall(max_value, ...)``: the Frobenius
    distance of each matrix to the ball, which is the size of its singular
    values' excess over $c$. Its gradient is taken through the projection
    held fixed ($2(W - P(W))$ for ``power=2``, the exact gradient of the
    squared distance to a convex set), never through the projection's
    Newton-Schulz steps.

    Args:
        max_value: The largest singular value, ``> 0``.
        axis: Rows of each matrix, as for ``SpectralBall``.
        batch_axis: Axes indexing separate matrices.
        strength: Finite factor ``>= 0``.
        power: ``2`` (default) or ``1``.

    Example:

        >>> float(SpectralBallPenalty(1.0, strength=1.0)(np.diag([3.0, 0.5])))
        4.0
    """

    max_value: float = 1.0
    _: KW_ONLY
    axis: AxisLike = None
    batch_axis: AxisLike = None
    strength: float = 0.01
    power: int = 2

    set_type = sets.SpectralBall

    def violation(self, x: Any) -> Any:
        layout = self._layout(x)
        projected = ops.stop_gradient(self._set._project(x, layout))
        m, _ = layout.to_matrices(x - projected)
        squared = ops.sum(ops.square(m), axis=(1, 2))
        return ops.sum(squared if self.power == 2 else _safe_sqrt(squared))


orthogonal_penalty = OrthogonalPenalty
spectral_ball_penalty = SpectralBallPenalty
