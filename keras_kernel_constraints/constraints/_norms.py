"""Constraints onto l2 balls, spheres, norm bands and the l-infinity ball."""

from __future__ import annotations

from keras_kernel_constraints import _validation
from keras_kernel_constraints._config import register as _register
from keras_kernel_constraints.constraints._base import GroupedConstraint, ProjectionConstraint
from keras_kernel_constraints.projections import (
    project_l2_ball,
    project_l2_sphere,
    project_linf_ball,
    project_norm_band,
)


@_register
class L2Ball(GroupedConstraint):
    r"""Each group's l2 norm at most ``radius``: the exact max-norm constraint.

    $$
    C = \{w : \|w_g\|_2 \le r\}, \qquad P(w)_g = w_g \min\left(1, \frac{r}{\|w_g\|_2}\right)
    $$

    Groups inside the ball are left exactly as they are; groups outside are
    rescaled onto the sphere. ``keras.constraints.MaxNorm`` divides by
    ``eps + norm`` instead, which shrinks every group a little and is not
    idempotent. Note Keras's ``MaxNorm`` defaults to ``axis=0``, which for a
    Dense kernel is the same as ``axis=None`` here.

    Args:
        radius: Positive radius.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=L2Ball(3.0))
    """

    def __init__(self, radius=1.0, axis=None):
        self.radius = _validation.positive_number(radius, "radius")
        super().__init__(axis)

    def project(self, w):
        return project_l2_ball(w, self.radius, self.axis)

    def penalty(self, strength=0.01, power=2):
        """``L2BallPenalty``: ``strength * sum_g relu(||w_g|| - radius)**power``."""
        from keras_kernel_constraints.regularizers import L2BallPenalty

        return L2BallPenalty(self.radius, self.axis, strength=strength, power=power)

    def get_config(self):
        return {"radius": self.radius, **super().get_config()}


@_register
class UnitSphere(GroupedConstraint):
    r"""Each group's l2 norm exactly ``radius``: embeddings or filters on a sphere.

    $$
    C = \{w : \|w_g\|_2 = r\}, \qquad P(w)_g = r \frac{w_g}{\|w_g\|_2}
    $$

    The projection ``radius * w_g / ||w_g||``. A group of zeros (which has no
    unique nearest point) maps to ``radius`` at index 0 of every group axis.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``L2Ball``.

    Example:

        >>> embed = keras.layers.Embedding(1000, 16, embeddings_constraint=UnitSphere(axis=-1))
    """

    def __init__(self, radius=1.0, axis=None):
        self.radius = _validation.positive_number(radius, "radius")
        super().__init__(axis)

    def project(self, w):
        return project_l2_sphere(w, self.radius, self.axis)

    def penalty(self, strength=0.01, power=2):
        """``NormBandPenalty(radius, radius)``: ``strength * sum_g |‖w_g‖ - r|**power``."""
        from keras_kernel_constraints.regularizers import NormBandPenalty

        return NormBandPenalty(self.radius, self.radius, self.axis, strength=strength, power=power)

    def get_config(self):
        return {"radius": self.radius, **super().get_config()}


@_register
class NormBand(GroupedConstraint):
    r"""Each group's l2 norm in ``[min_norm, max_norm]``: the exact ``MinMaxNorm``.

    $$
    C = \{w : a \le \|w_g\|_2 \le b\}, \qquad
    P(w)_g = w_g \frac{\operatorname{clip}(\|w_g\|_2, a, b)}{\|w_g\|_2}
    $$

    Groups inside the band are unchanged; others are rescaled to the nearest
    allowed norm. A group of zeros maps to ``min_norm`` at index 0 of every
    group axis.

    Args:
        min_norm: Smallest norm, ``>= 0``.
        max_norm: Largest norm, ``> 0`` and ``>= min_norm``.
        axis: Groups, as for ``L2Ball``.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=NormBand(0.5, 2.0))
    """

    def __init__(self, min_norm=0.0, max_norm=1.0, axis=None):
        self.min_norm, self.max_norm = _validation.norm_bounds(min_norm, max_norm)
        super().__init__(axis)

    def project(self, w):
        return project_norm_band(w, self.min_norm, self.max_norm, self.axis)

    def penalty(self, strength=0.01, power=2):
        """``NormBandPenalty``: the distance of each group's norm to the band."""
        from keras_kernel_constraints.regularizers import NormBandPenalty

        return NormBandPenalty(self.min_norm, self.max_norm, self.axis, strength=strength,
                               power=power)

    def get_config(self):
        return {"min_norm": self.min_norm, "max_norm": self.max_norm, **super().get_config()}


@_register
class LinfBall(ProjectionConstraint):
    r"""Every entry in ``[-radius, radius]``: ``Box(-radius, radius)``.

    $$
    C = \{w : |w_i| \le r\}, \qquad P(w) = \operatorname{clip}(w, -r, r)
    $$

    Args:
        radius: Positive radius.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=LinfBall(0.1))
    """

    def __init__(self, radius=1.0):
        self.radius = _validation.positive_number(radius, "radius")

    def project(self, w):
        return project_linf_ball(w, self.radius)

    def penalty(self, strength=0.01, power=1):
        """``BoxPenalty(-radius, radius)``."""
        from keras_kernel_constraints.regularizers import BoxPenalty

        return BoxPenalty(-self.radius, self.radius, strength=strength, power=power)

    def get_config(self):
        return {"radius": self.radius}


l2_ball = L2Ball
unit_sphere = UnitSphere
norm_band = NormBand
linf_ball = LinfBall
