"""Weight constraints that return the exact Euclidean projection.

Use them wherever Keras takes a constraint: ``kernel_constraint=``,
``bias_constraint=``, ``embeddings_constraint=``, ``depthwise_constraint=``,
``pointwise_constraint=`` or ``add_weight(..., constraint=...)``. The
optimizer applies them after every update step.

Each class is one set of ``keras_kernel_constraints.sets`` (the set's page
holds its math) with Keras's calling convention and a registered name, so
models that use it load with ``keras.saving.load_model`` and no
``custom_objects``. The table of sets and their companions is on the
documentation's home page.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_kernel_constraints import lipschitz, sets
from keras_kernel_constraints._core import dtypes, registry, validation, variables
from keras_kernel_constraints._core.params import legacy_init, retired_names
from keras_kernel_constraints.constraints._base import (
    ProjectionConstraint,
    SetConstraint,
    check_projection,
)


@registry.register
class NonNeg(sets.NonNegative, SetConstraint):
    """Keeps every entry ``>= 0``: the set ``sets.NonNegative``, projection ``max(w, 0)``.

    Same result as ``keras.constraints.NonNeg``, plus a dtype check, a
    companion penalty and value equality.

    Example:

        >>> layer = keras.layers.Dense(3, kernel_constraint=NonNeg())
        >>> import numpy as np
        >>> np.asarray(NonNeg()(np.array([-1.0, 2.0])))
        array([0., 2.])
    """


@registry.register
class Box(sets.Box, SetConstraint):
    """Keeps every entry in ``[min_value, max_value]``: the set ``sets.Box``, projection ``clip``.

    Args:
        min_value: Lower bound: a number, ``None`` (or ``-inf``) for none, or
            an array of per-entry bounds broadcastable to the weight.
        max_value: Upper bound, ``>= min_value`` at every entry: a number,
            ``None`` (or ``inf``), or an array.

    Example:

        >>> layer = keras.layers.Dense(3, kernel_constraint=Box(-1.0, 1.0))
        >>> import numpy as np
        >>> np.asarray(Box(0.0, 1.0)(np.array([-0.5, 0.5, 1.5])))
        array([0. , 0.5, 1. ])

        Each output unit of a ``Dense(3)`` kernel in its own interval:

        >>> layer = keras.layers.Dense(
        ...     3, kernel_constraint=Box([-1.0, 0.0, 0.0], [1.0, 1.0, np.inf]))
    """


@registry.register
@legacy_init(("value", "axis"))
class SumTo(sets.SumTo, SetConstraint):
    """Makes each group of entries sum to ``value``; entries stay free (``sets.SumTo``).

    Unlike dividing by the sum it never flips signs and is defined when the
    sum is zero; unlike softmax it allows negative entries and entries above
    ``value`` (a sharpening kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` is
    feasible).

    Args:
        value: Finite target sum of every group, or an array of one per group.
        axis: Axis or tuple of axes forming one group. ``None`` (default)
            means every axis but the last: one group per output unit for
            Dense and ConvND kernels ``(*k, in, out)``. Conv2DTranspose
            kernels are ``(kh, kw, out, in)``: there ``axis=(0, 1, 3)``
            groups per output filter.

    Example:

        >>> conv = keras.layers.Conv2D(8, 3, kernel_constraint=SumTo(1.0))
        >>> per_spatial_kernel = SumTo(1.0, axis=(0, 1))
    """


@registry.register
@legacy_init(("value", "axis"))
class Simplex(sets.Simplex, SetConstraint):
    """Each group non-negative and summing to ``value``: mixture weights (``sets.Simplex``).

    Entries below the group's threshold become exactly 0, so the result is
    often sparse.

    Args:
        value: Positive sum of every group.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit.

    Example:

        >>> mixing = keras.layers.Dense(4, kernel_constraint=Simplex())
        >>> row_wise = keras.layers.Embedding(100, 8, embeddings_constraint=Simplex(axis=-1))
    """


@registry.register
@legacy_init(("value", "min_value", "max_value", "axis"))
class CappedSimplex(sets.CappedSimplex, SetConstraint):
    """Each entry in ``[min_value, max_value]``, each group summing to ``value``
    (``sets.CappedSimplex``).

    A group of ``n`` entries can be feasible only if
    ``n * min_value <= value <= n * max_value``; a weight whose groups cannot
    raises ``ValueError`` on first use.

    Args:
        value: Finite target sum of every group.
        min_value: Finite lower bound of every entry, or an array of per-entry
            bounds broadcastable to the weight (as for ``Box``).
        max_value: Finite upper bound, ``>= min_value``, or an array.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> # attention-like weights: sum to 1, no single weight above 0.5
        >>> layer = keras.layers.Dense(4, kernel_constraint=CappedSimplex(1.0, 0.0, 0.5))
    """


@registry.register
@legacy_init(("radius", "axis"))
class L1Ball(sets.L1Ball, SetConstraint):
    """Each group's l1 norm at most ``radius``: sparse, bounded filters (``sets.L1Ball``).

    Groups already in the ball are returned unchanged.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``Simplex``.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=L1Ball(2.0))
    """


@registry.register
@legacy_init(("radius", "axis"))
class L2Ball(sets.L2Ball, SetConstraint):
    """Each group's l2 norm at most ``radius``: the exact max-norm constraint (``sets.L2Ball``).

    Groups inside the ball are left exactly as they are; groups outside are
    rescaled onto the sphere. Keras's ``MaxNorm`` defaults to ``axis=0``,
    which for a Dense kernel is the same as ``axis=None`` here.

    Args:
        radius: Positive radius.
        axis: Axis or tuple of axes forming one group; ``None`` means one
            group per output unit.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=L2Ball(3.0))
    """


@registry.register
@legacy_init(("radius", "axis"))
class UnitSphere(sets.Sphere, SetConstraint):
    """Each group's l2 norm exactly ``radius``: embeddings or filters on a sphere
    (``sets.Sphere``).

    A group of zeros (which has no unique nearest point) maps to ``radius``
    at index 0 of every group axis.

    Args:
        radius: Positive radius.
        axis: Groups, as for ``L2Ball``.

    Example:

        >>> embed = keras.layers.Embedding(1000, 16, embeddings_constraint=UnitSphere(axis=-1))
    """


@registry.register
@legacy_init(("min_norm", "max_norm", "axis"))
class NormBand(sets.NormBand, SetConstraint):
    """Each group's l2 norm in ``[min_norm, max_norm]``: the exact ``MinMaxNorm``
    (``sets.NormBand``).

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


@registry.register
class LinfBall(sets.LinfBall, SetConstraint):
    """Every entry in ``[-radius, radius]`` (``sets.LinfBall``): ``Box(-radius, radius)``.

    Args:
        radius: Positive radius.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=LinfBall(0.1))
    """


@registry.register
@legacy_init(("increasing", "axis", "min_value", "max_value", "min_step"))
class Monotone(sets.Monotone, SetConstraint):
    """Keeps every slice along ``axis`` ordered: the exact isotonic projection
    (``sets.Monotone``).

    ``Monotone(min_value=0.0)`` is the positive, non-decreasing kernel. The
    weight is replaced by the nearest point of the set after every optimizer
    step, so the taps keep training freely inside it, unlike weights built
    once from ``cumsum(exp(v))``. ``axis=0`` is the tap axis of a Conv1D
    kernel ``(taps, in, out)``, of a DepthwiseConv1D kernel and of a 1-D
    ``add_weight``; use ``axis=-1`` to order each input's weights across the
    outputs of a Dense kernel.

    Args:
        increasing: ``True`` (default) for non-decreasing slices, ``False``
            for non-increasing.
        min_value: Optional finite lower bound for every entry.
        max_value: Optional finite upper bound, ``>= min_value``.
        min_step: Smallest difference between neighbours, ``>= 0``.
        axis: The ordered axis, one int (default 0).

    Raises:
        ValueError: at construction for a non-bool ``increasing``, a
            non-int ``axis``, ``min_value > max_value`` or ``min_step < 0``;
            on first use for a scalar weight, an ``axis`` out of range, or
            bounds closer than ``(n - 1) * min_step`` for slices of length
            ``n``.

    Example:

        >>> layer = keras.layers.Conv1D(4, 9, kernel_constraint=Monotone(min_value=0.0))
        >>> import numpy as np
        >>> np.asarray(Monotone()(np.array([3.0, 1.0, 2.0])))
        array([2., 2., 2.])
    """


@registry.register
class Unimodal(sets.Unimodal, SetConstraint):
    """Keeps every slice along ``axis`` rising to one peak, then falling: the
    exact unimodal projection (``sets.Unimodal``).

    A bump-shaped kernel (a smoothing or matched filter, a dose-response
    profile) whose peak may move while it trains (``mode=None``), or stays
    at one tap (``mode=k``, a convex set). ``axis=0`` is the tap axis of a
    Conv1D kernel ``(taps, in, out)``.

    Args:
        mode: ``None`` (default) for a free peak, or the peak's index
            (negative counts from the end).
        axis: The axis of the sequence, one int (default 0).

    Raises:
        ValueError: at construction for a non-int ``mode`` or ``axis``; on
            first use for a scalar weight, an ``axis`` out of range, or a
            ``mode`` outside the slice.

    Example:

        >>> layer = keras.layers.Conv1D(4, 9, kernel_constraint=Unimodal(mode=4))
        >>> import numpy as np
        >>> np.asarray(Unimodal()(np.array([0.0, 2.0, 1.0, 3.0, 0.0])))
        array([0. , 1.5, 1.5, 3. , 0. ])
    """


@registry.register
class Convex(sets.Convex, SetConstraint):
    """Keeps every slice along ``axis`` convex (non-negative second differences):
    the exact projection, by a batched active-set solve (``sets.Convex``).

    ``axis=0`` is the tap axis of a Conv1D kernel ``(taps, in, out)``.
    ``Intersect(Convex(), Monotone())`` adds an order.

    Args:
        axis: The axis of the sequence, one int (default 0).

    Raises:
        ValueError: at construction for a non-int ``axis``; on first use for
            a scalar weight or an ``axis`` out of range.

    Example:

        >>> layer = keras.layers.Conv1D(4, 9, kernel_constraint=Convex())
        >>> import numpy as np
        >>> np.asarray(Convex()(np.array([0.0, 3.0, 0.0, 3.0])))
        array([1., 1., 1., 3.])
    """


@registry.register
class Concave(sets.Concave, SetConstraint):
    """Keeps every slice along ``axis`` concave (non-positive second differences):
    ``-Convex()(-w)`` (``sets.Concave``).

    Args:
        axis: The axis of the sequence, one int (default 0).

    Example:

        >>> layer = keras.layers.Conv1D(4, 9, kernel_constraint=Concave())
    """


@registry.register
class Orthogonal(sets.Orthogonal, SetConstraint):
    """Orthonormal columns (rows, for a wide matrix): the nearest orthogonal kernel
    after every step, by the polar factor (``sets.Orthogonal``).

    A Dense kernel ``(in, out)`` gets orthonormal columns when ``in >= out``
    (orthonormal rows otherwise); a ConvND kernel ``(*k, in, out)`` is read
    as the ``(k·in) × out`` matrix of its flattened filters, whose columns
    become orthonormal (the "orthogonal flattened kernel"; it makes the
    reshaped matrix, not the convolution, orthogonal). For one matrix per
    tap use ``batch_axis=(0, 1)``; for Conv*Transpose kernels
    ``(*k, out, in)`` with one column per output filter use
    ``axis="units"`` with ``training.attach``.

    Args:
        axis: Axes forming one column; ``None`` means every axis but the
            last and the batch axes.
        batch_axis: Axes indexing separate matrices (``None``: one matrix).

    Example:

        >>> layer = keras.layers.Dense(8, kernel_constraint=Orthogonal())
        >>> per_head = Orthogonal(axis=1, batch_axis=0)  # a (heads, d, k) weight
    """


@registry.register
class SpectralBall(sets.SpectralBall, SetConstraint):
    """Spectral norm at most ``max_value``: every singular value clipped after each
    step, the exact projection (``sets.SpectralBall``).

    The feasible alternative to Keras's ``SpectralNormalization``, whose
    kernel at inference is not normalised: here the saved kernel is in the
    set. The matrix is read as for ``Orthogonal``; note that the spectral
    norm of a conv kernel's flattened matrix bounds, but is not, the
    operator norm of the convolution (``ConvLipschitz`` bounds that).

    Args:
        max_value: The largest singular value, ``> 0``.
        axis: Rows of each matrix, as for ``Orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Example:

        >>> layer = keras.layers.Dense(8, kernel_constraint=SpectralBall(1.0))
    """


@registry.register
class Symmetric(sets.Symmetric, SetConstraint):
    """Every (square) matrix symmetric: ``(W + Wᵀ) / 2`` (``sets.Symmetric``).

    Args:
        axis: Rows of each matrix, as for ``Orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Example:

        >>> mixing = keras.layers.Dense(8, kernel_constraint=Symmetric())  # an 8 x 8 kernel
    """


@registry.register
class PSD(sets.PSD, SetConstraint):
    """Every (square) matrix symmetric with eigenvalues at least ``min_eigenvalue``,
    optionally of trace ``trace``: the eigenvalue clip (``sets.PSD``).

    With ``trace``, needs Keras >= 3.3 (``keras.ops.eigh``).

    Args:
        min_eigenvalue: Smallest eigenvalue (0: positive semidefinite).
        trace: ``None``, or the trace of every matrix (``trace=1.0`` with the
            default floor: density-matrix-like weights).
        axis: Rows of each matrix, as for ``Orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Example:

        >>> layer = keras.layers.Dense(4, kernel_constraint=PSD())  # a 4 x 4 kernel
    """


@registry.register
class DoublyStochastic(sets.DoublyStochastic, SetConstraint):
    """Every (square) matrix non-negative with unit row and column sums: the
    Euclidean projection onto the Birkhoff polytope (``sets.DoublyStochastic``).

    For mixing and assignment-like weights. Not Sinkhorn scaling, which
    divides rows and columns and is not the nearest point.

    Args:
        axis: Rows of each matrix, as for ``Orthogonal``.
        batch_axis: Axes indexing separate matrices.

    Example:

        >>> mixing = keras.layers.Dense(8, use_bias=False, kernel_constraint=DoublyStochastic())
    """


@registry.register
class Intersect(sets.Intersect, SetConstraint):
    """The weights in every one of several sets: exact rules where they exist,
    Dykstra's algorithm otherwise (``sets.Intersect``).

    Args:
        *sets: Constraints (or sets) of this package, all convex.
        sweeps: Most Dykstra sweeps, for members no exact rule joins.
        method: ``"auto"`` or ``"dykstra"``.

    Example:

        >>> # a sharpening kernel: sums to 1, every tap in [-1, 5]
        >>> conv = keras.layers.Conv2D(
        ...     8, 3, kernel_constraint=Intersect(SumTo(1.0, axis=(0, 1)), Box(-1.0, 5.0)))
        >>> profile = Intersect(Monotone(), Simplex(axis=0))  # a cumulative, normalised FIR
    """


@registry.register
class ConvLipschitz(keras.constraints.Constraint):
    r"""Scales a convolution kernel so that the layer is ``max_value``-Lipschitz.

    $$
    K \mapsto K \min\Big(1, \frac{c}{\hat\sigma(K)}\Big), \qquad
    \|K\|_{\mathrm{op}} \le \hat\sigma(K)
    $$

    $\hat\sigma$ is ``lipschitz.conv_norm_bound``, a certified upper bound
    on the layer's operator norm (Gram iteration; measured at most 4e-4
    above it on random kernels), so after each step the layer
    maps inputs of ``input_shape`` with gain at most $c$. **Feasible, not
    the nearest point**: no exact projection onto
    $\{K : \|K\|_{\mathrm{op}} \le c\}$ is known that is cheap enough
    for a training step (Sedghi et al.'s per-frequency clip is not one:
    it leaves a kernel of larger support), so this is the radial
    scaling into the set, not a set of ``sets``. A kernel whose bound is
    at most $c$ is returned as it is.

    Computed in float32 for half-precision weights; feasible up to the
    rounding of the result to the weight's dtype.

    Args:
        max_value: The largest allowed operator norm $c > 0$.
        input_shape: The layer's spatial input shape ``(n_1, ..., n_d)``
            (no batch, no channels).
        strides: The layer's strides: an int or one per spatial axis.
        padding: The layer's padding: ``"same"`` or ``"valid"`` (zero
            padding: the bound is that of circular padding on the grid
            enlarged by the kernel, ``lipschitz`` says why) or
            ``"circular"``.
        iterations: Gram steps of the bound.

    Example:

        >>> layer = keras.layers.Conv2D(
        ...     8, 3, padding="same",
        ...     kernel_constraint=ConvLipschitz(1.0, (32, 32), padding="same"))
        >>> import numpy as np
        >>> kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 8))
        >>> scaled = ConvLipschitz(1.0, (16, 16))(kernel)
        >>> bool(lipschitz.conv_operator_norm(scaled, (16, 16), padding="same") <= 1.0)
        True
    """

    def __init__(
        self,
        max_value: float,
        input_shape: Any,
        *,
        strides: Any = 1,
        padding: str = "same",
        iterations: int = lipschitz.GRAM_ITERATIONS,
    ) -> None:
        owner = type(self).__name__
        self.max_value = validation.positive_number(max_value, "max_value")
        self.input_shape, self.strides, self.padding = lipschitz.check_arguments(
            input_shape, strides, padding, owner
        )
        self.iterations = lipschitz._iterations(iterations, owner)

    def __call__(self, w: Any) -> Any:
        owner = type(self).__name__
        name = variables.name_of(w)
        w, dtype = dtypes.float_tensor(w, owner)
        shape = tuple(w.shape)
        try:
            lipschitz.check_geometry(shape, self.input_shape, self.strides, self.padding, owner)
        except ValueError as error:
            where = f" (variable {name!r})" if name else ""
            raise ValueError(f"{error}{where}") from None
        scaled = lipschitz.scale_within(
            w,
            self.max_value,
            self.input_shape,
            strides=self.strides,
            padding=self.padding,
            iterations=self.iterations,
            owner=owner,
        )
        scaled = ops.cast(scaled, dtype)
        check_projection(self, scaled, shape, dtype, name)
        return scaled

    def get_config(self) -> dict[str, Any]:
        return {
            "max_value": self.max_value,
            "input_shape": list(self.input_shape),
            "strides": self.strides if isinstance(self.strides, int) else list(self.strides),
            "padding": self.padding,
            "iterations": self.iterations,
        }

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


non_neg = NonNeg
box = Box

sum_to = SumTo
simplex = Simplex
capped_simplex = CappedSimplex
l1_ball = L1Ball
l2_ball = L2Ball
unit_sphere = UnitSphere
norm_band = NormBand
linf_ball = LinfBall
monotone = Monotone
unimodal = Unimodal
convex = Convex
concave = Concave
orthogonal = Orthogonal
spectral_ball = SpectralBall
symmetric = Symmetric
psd = PSD
doubly_stochastic = DoublyStochastic
conv_lipschitz = ConvLipschitz
intersect = Intersect

ALL_CONSTRAINTS: tuple[type[SetConstraint], ...] = (
    NonNeg,
    Box,
    SumTo,
    Simplex,
    CappedSimplex,
    L1Ball,
    L2Ball,
    UnitSphere,
    NormBand,
    LinfBall,
    Monotone,
    Unimodal,
    Convex,
    Concave,
    Orthogonal,
    SpectralBall,
    Symmetric,
    PSD,
    DoublyStochastic,
    Intersect,
)
"""Every public constraint class, one per set of ``sets.ALL_SETS``."""

_BY_NAME = registry.name_table((*ALL_CONSTRAINTS, ConvLipschitz))


def get(identifier: Any) -> Any:
    """Return a constraint from a name, a config dict, a class or an instance.

    Args:
        identifier: ``None``; a class name or its snake_case alias
            (``"SumTo"``, ``"sum_to"``); a dict made by
            ``keras.saving.serialize_keras_object``; a class (instantiated
            with its defaults); or a callable, returned as it is.

    Returns:
        A constraint, or ``None`` for ``None``.

    Raises:
        ValueError: for an unknown name or an object that is not callable.

    Example:

        >>> get("sum_to")
        SumTo(value=1.0, axis=None)
    """
    return registry.resolve(identifier, _BY_NAME, "constraint", keras.constraints.get)


__getattr__ = retired_names(
    __name__,
    {"GroupedConstraint": SetConstraint},
    "subclass ProjectionConstraint, or write a set (keras_kernel_constraints.sets.Set).",
)


__all__ = [
    "ALL_CONSTRAINTS",
    "PSD",
    "Box",
    "CappedSimplex",
    "Concave",
    "ConvLipschitz",
    "Convex",
    "DoublyStochastic",
    "Intersect",
    "L1Ball",
    "L2Ball",
    "LinfBall",
    "Monotone",
    "NonNeg",
    "NormBand",
    "Orthogonal",
    "ProjectionConstraint",
    "Simplex",
    "SpectralBall",
    "SumTo",
    "Symmetric",
    "Unimodal",
    "UnitSphere",
    "box",
    "capped_simplex",
    "concave",
    "convex",
    "doubly_stochastic",
    "get",
    "intersect",
    "l1_ball",
    "l2_ball",
    "linf_ball",
    "monotone",
    "non_neg",
    "norm_band",
    "orthogonal",
    "psd",
    "simplex",
    "spectral_ball",
    "sum_to",
    "symmetric",
    "unimodal",
    "unit_sphere",
]
