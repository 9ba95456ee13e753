"""Euclidean projections onto norm balls, spheres and norm bands.

The l2 sets are radial: the projection rescales each group by a factor
computed from its norm, with no ``eps`` in any denominator. A group whose
norm is within ``2 * eps`` (``eps``: the machine epsilon of the weight's
dtype; relative) of the band is on the set as far as that dtype can tell,
and is returned bit for bit; so is every other group that is inside. This
makes the projections idempotent exactly, not just up to rounding: rounding
a rescaled group to the weight's dtype moves its norm by at most ``eps / 2``
and computing the norm errs by about as much again, so a projected group
always lands within the slack. Norms are one plain reduction when no group
can overflow or underflow, and a max-scaled one otherwise (see
``_groups.group_norm_parts``). float16 and bfloat16 are
computed in float32.
"""

from __future__ import annotations

from keras import ops

from keras_kernel_constraints import _groups
from keras_kernel_constraints.projections._affine import project_box
from keras_kernel_constraints.projections._common import grouped


def project_l2_ball(w, radius=1.0, axis=None):
    r"""Project each group onto the l2 ball $\{p : \|p\|_2 \le r\}$.

    $$
    P(w)_g = w_g \cdot \min\left(1, \frac{r}{\|w_g\|_2}\right)
    $$

    This is the exact max-norm constraint: unlike ``keras.constraints.MaxNorm``
    (``w * clip(n, 0, r) / (eps + n)``) it leaves groups inside the ball
    untouched and maps outside groups exactly onto the sphere.

    Args:
        w: Floating-point tensor.
        radius: Positive radius ``r``.
        axis: Axis or tuple of axes forming one group; ``None`` means every
            axis but the last (rank >= 2) or the whole tensor (rank <= 1).

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_l2_ball(np.array([3.0, 4.0]), 1.0))
        array([0.6, 0.8])
    """
    return _radial(w, 0.0, radius, axis, "project_l2_ball")


def project_l2_sphere(w, radius=1.0, axis=None):
    r"""Project each group onto the sphere $\{p : \|p\|_2 = r\}$.

    $$
    P(w)_g = r \, \frac{w_g}{\|w_g\|_2}
    $$

    A group of zeros has no nearest point (every point of the sphere is as
    near); it maps to ``r`` times the group's first basis vector: ``r`` at
    index 0 of every group axis, 0 elsewhere. Never NaN for finite input.

    Args:
        w: Floating-point tensor.
        radius: Positive radius ``r``.
        axis: Groups, as for ``project_l2_ball``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_l2_sphere(np.array([0.0, 0.0]), 2.0))
        array([2., 0.])
    """
    return _radial(w, radius, radius, axis, "project_l2_sphere")


def project_norm_band(w, min_norm, max_norm, axis=None):
    r"""Project each group onto $\{p : a \le \|p\|_2 \le b\}$.

    $$
    P(w)_g = w_g \, \frac{\operatorname{clip}(\|w_g\|_2, a, b)}{\|w_g\|_2}
    $$

    The band is not convex when ``a > 0``, but the radial map is still the
    nearest point for every non-zero group. A group of zeros maps to ``a``
    times the group's first basis vector (0 when ``a = 0``).

    Args:
        w: Floating-point tensor.
        min_norm: Smallest allowed norm ``a >= 0``.
        max_norm: Largest allowed norm ``b >= a``.
        axis: Groups, as for ``project_l2_ball``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_norm_band(np.array([0.3, 0.4]), 1.0, 2.0))
        array([0.6, 0.8])
    """
    return _radial(w, min_norm, max_norm, axis, "project_norm_band")


def _radial(w, min_norm, max_norm, axis, owner):
    """Rescale every group so that its norm is clipped to [min_norm, max_norm]."""
    w, dtype, shape, axes, _ = grouped(w, axis, owner)
    if _groups.is_empty(shape):
        return w
    acc = _groups.compute_dtype(dtype)
    x = ops.cast(w, acc)
    unit, spread, norm = _groups.group_norm_parts(x, axes)
    lo = ops.convert_to_tensor(min_norm, dtype=acc)
    hi = ops.convert_to_tensor(max_norm, dtype=acc)
    # unit * (target / spread) = x * target / norm, with no intermediate that
    # can overflow even when the norm itself is not representable.
    rescaled = unit * (ops.clip(norm, lo, hi) / spread)
    # Groups in the band, up to the dtype's rounding, are returned bit for bit.
    slack = 2.0 * _groups.EPSILON[dtype]
    inside = ops.logical_and(norm >= lo * (1.0 - slack), norm <= hi * (1.0 + slack))
    fallback = lo * _groups.first_entry_mask(shape, axes, acc)
    # Only a zero group takes the fallback; a NaN group stays NaN.
    out = ops.where(inside, x, ops.where(norm == 0, fallback, rescaled))
    return ops.cast(out, dtype)


def project_linf_ball(w, radius=1.0):
    r"""Project onto the l-infinity ball $\{p : |p_i| \le r\}$.

    $$
    P(w) = \operatorname{clip}(w, -r, r)
    $$

    A box, so elementwise and exact in every dtype.

    Args:
        w: Floating-point tensor.
        radius: Positive radius ``r``.

    Returns:
        Tensor of the same shape and dtype as ``w``.

    Example:

        >>> import numpy as np
        >>> np.asarray(project_linf_ball(np.array([-3.0, 0.5]), 1.0))
        array([-1. ,  0.5])
    """
    return project_box(w, -radius, radius)
