"""Constraints onto the simplex, the capped simplex and the l1 ball."""

from __future__ import annotations

from keras_kernel_constraints import _groups, _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.constraints._base import GroupedConstraint
from keras_kernel_constraints.projections import (
    project_capped_simplex,
    project_l1_ball,
    project_simplex,
)
from keras_kernel_constraints.projections._simplex import check_capped_simplex_size


@_register
class Simplex(GroupedConstraint):
    r"""Each group non-negative and summing to ``value``: mixture weights.

    $$
    C = \{w : w_i \ge 0,\ \textstyle\sum_{i \in g} w_i = s\}, \qquad P(w)_i = \max(w_i - \tau_g, 0)
    $$

    The exact projection ``max(w - tau, 0)`` with one threshold per group
    (bisection, then the exact threshold on its support); entries below the
    threshold become exactly 0, so the result is often sparse.

    Args:
        value: Positive sum of every group.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit (see ``keras_kernel_constraints``).

    Example:

        >>> mixing = keras.layers.Dense(4, kernel_constraint=Simplex())
        >>> row_wise = keras.layers.Embedding(100, 8, embeddings_constraint=Simplex(axis=-1))
    """

    def __init__(self, value=1.0, axis=None):
        self.value = _validation.positive_number(value, "value")
        super().__init__(axis)

    def project(self, w):
        return project_simplex(w, self.value, self.axis)

    def penalty(self, strength=0.01, power=2):
        """``SimplexPenalty``: negative entries plus the sum residual."""
        from keras_kernel_constraints.regularizers import SimplexPenalty

        return SimplexPenalty(self.value, self.axis, strength=strength, power=power)

    def get_config(self):
        return {"value": self.value, **super().get_config()}


@_register
class CappedSimplex(GroupedConstraint):
    r"""Each entry in ``[min_value, max_value]`` and each group summing to ``value``.

    $$
    C = \{w : \ell \le w_i \le u,\ \textstyle\sum_{i \in g} w_i = s\}, \qquad
    P(w)_i = \min(\max(w_i - \tau_g, \ell), u)
    $$

    The exact projection ``clip(w - tau, min_value, max_value)`` with one
    ``tau`` per group, found by bisection and finished in closed form.
    A group of ``n`` entries can be feasible only if
    ``n * min_value <= value <= n * max_value``; a weight whose groups cannot
    raises ``ValueError`` on first use.

    Args:
        value: Finite target sum of every group.
        min_value: Finite lower bound of every entry.
        max_value: Finite upper bound, ``>= min_value``.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> # attention-like weights: sum to 1, no single weight above 0.5
        >>> layer = keras.layers.Dense(4, kernel_constraint=CappedSimplex(1.0, 0.0, 0.5))
    """

    def __init__(self, value=1.0, min_value=0.0, max_value=1.0, axis=None):
        self.value = _validation.finite_number(value, "value")
        self.min_value, self.max_value = _validation.ordered_bounds(min_value, max_value)
        super().__init__(axis)

    def group_axes(self, shape):
        axes = super().group_axes(shape)
        n = _groups.group_size(shape, axes, self._owner)
        check_capped_simplex_size(n, self.value, self.min_value, self.max_value, self._owner)
        return axes

    def project(self, w):
        return project_capped_simplex(w, self.value, self.min_value, self.max_value, self.axis)

    def get_config(self):
        return {
            "value": self.value,
            "min_value": self.min_value,
            "max_value": self.max_value,
            **super().get_config(),
        }


@_register
class L1Ball(GroupedConstraint):
    r"""Each group's l1 norm at most ``radius``: sparse, bounded filters.

    $$
    C = \{w : \|w_g\|_1 \le r\}, \qquad
    P(w)_i = \operatorname{sign}(w_i) \max(|w_i| - \tau_g, 0),\ \tau_g \ge 0
    $$

    The exact projection ``sign(w) * max(|w| - tau, 0)``; groups already in
    the ball are returned unchanged.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=L1Ball(2.0))
    """

    def __init__(self, radius=1.0, axis=None):
        self.radius = _validation.positive_number(radius, "radius")
        super().__init__(axis)

    def project(self, w):
        return project_l1_ball(w, self.radius, self.axis)

    def get_config(self):
        return {"radius": self.radius, **super().get_config()}


simplex = Simplex
capped_simplex = CappedSimplex
l1_ball = L1Ball
