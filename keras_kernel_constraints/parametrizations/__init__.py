"""Parametrizations: the weight is f(free variable), recomputed in every forward pass.

A constraint projects a weight after each optimizer step, a step the
gradient took without knowing the set. A parametrization writes the weight
as $w = f(v)$ for a free trainable variable $v$, so the gradient reaches
$v$ through $f$ and every value $v$ takes gives a weight in the set.
``Parametrized(layer, {"kernel": map})`` puts a map on a weight of any
layer; ``training.parametrize`` does it by rules on a built model, and
``training.bake`` writes $f(v)$ back into plain layers for serving.

Each map names its set (``map.set``), has ``forward(v)`` (differentiable,
``keras.ops`` only, XLA-safe) and ``right_inverse(w)`` (exact on the set's
interior, used to start from existing weights), and serializes like the
constraints, so models that use it load with ``keras.saving.load_model``
and no ``custom_objects``.
"""

from keras_kernel_constraints.parametrizations._base import Parametrization
from keras_kernel_constraints.parametrizations._wrapper import Parametrized
from keras_kernel_constraints.parametrizations.affine import Simplex, SumTo
from keras_kernel_constraints.parametrizations.entries import Box, Positive
from keras_kernel_constraints.parametrizations.monotone import Monotone
from keras_kernel_constraints.parametrizations.norms import L2Ball, Sphere
from keras_kernel_constraints.parametrizations.orthogonal import Orthogonal

ALL_MAPS: tuple[type[Parametrization], ...] = (
    Positive,
    Box,
    SumTo,
    Simplex,
    Monotone,
    Sphere,
    L2Ball,
    Orthogonal,
)
"""Every map of the package, for the generic tests and the docs."""

__all__ = [
    "ALL_MAPS",
    "Box",
    "L2Ball",
    "Monotone",
    "Orthogonal",
    "Parametrization",
    "Parametrized",
    "Positive",
    "Simplex",
    "Sphere",
    "SumTo",
]
