"""Sets: the noun every mechanism of this package is built on.

A set holds its validated, frozen parameters, its layout (which entries are
constrained together), its exact Euclidean projection and, where one exists,
a closed-form distance. Sets know nothing of Keras layers, optimizers or
serialization: ``constraints``, ``regularizers`` and ``projections`` adapt
them. Use a set directly to project a tensor:

    >>> import numpy as np
    >>> np.asarray(SumTo(1.0).project(np.array([2.0, 0.0])))
    array([ 1.5, -0.5])
"""

from keras_kernel_constraints._core.layout import (
    Elementwise,
    Groups,
    Layout,
    Matrices,
    ResolvedLayout,
    Slices,
)
from keras_kernel_constraints.sets._base import Set
from keras_kernel_constraints.sets.affine import Box, NonNegative, SumTo
from keras_kernel_constraints.sets.curvature import Concave, Convex
from keras_kernel_constraints.sets.intersect import Intersect
from keras_kernel_constraints.sets.matrices import (
    PSD,
    DoublyStochastic,
    Orthogonal,
    SpectralBall,
    Symmetric,
)
from keras_kernel_constraints.sets.monotone import Monotone
from keras_kernel_constraints.sets.norms import L2Ball, LinfBall, NormBand, Sphere
from keras_kernel_constraints.sets.simplex import CappedSimplex, L1Ball, Simplex
from keras_kernel_constraints.sets.unimodal import Unimodal

ALL_SETS: tuple[type[Set], ...] = (
    NonNegative,
    Box,
    SumTo,
    Simplex,
    CappedSimplex,
    L1Ball,
    L2Ball,
    Sphere,
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
"""Every set of the package: the registry that the generic tests, the
constraints' guard and the docs iterate over."""

__all__ = [
    "ALL_SETS",
    "PSD",
    "Box",
    "CappedSimplex",
    "Concave",
    "Convex",
    "DoublyStochastic",
    "Elementwise",
    "Groups",
    "Intersect",
    "L1Ball",
    "L2Ball",
    "Layout",
    "LinfBall",
    "Matrices",
    "Monotone",
    "NonNegative",
    "NormBand",
    "Orthogonal",
    "ResolvedLayout",
    "Set",
    "Simplex",
    "Slices",
    "SpectralBall",
    "Sphere",
    "SumTo",
    "Symmetric",
    "Unimodal",
]
