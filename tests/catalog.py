"""One or more instances of every public constraint and regularizer.

Generic tests (configs, lookup, dtype checks, penalties vanishing on the
set, training setups) iterate over these. The constraints are the examples
of every set's spec (``tests/specs``), so a new set is catalogued by its
spec; ``test_every_public_class_is_catalogued`` fails when a public class is
missing.
"""

import keras

from keras_kernel_constraints import constraints, sets
from keras_kernel_constraints.constraints import (
    Box,
    Monotone,
    NonNeg,
    SumTo,
)
from keras_kernel_constraints.regularizers import (
    BoxPenalty,
    ConvexityPenalty,
    DistancePenalty,
    FirstDifferencePenalty,
    IntersectPenalty,
    L2BallPenalty,
    MonotonePenalty,
    NonNegPenalty,
    NormBandPenalty,
    OrthogonalPenalty,
    SecondDifferencePenalty,
    SimplexPenalty,
    SpectralBallPenalty,
    SumToPenalty,
)
from tests.specs import SPECS


def usable(cls):
    """Whether this Keras runs the class: its set (a constraint's, a penalty's) has a
    spec in ``SPECS`` (which leaves out sets that need a newer Keras)."""
    for klass in (*cls.__mro__, getattr(cls, "set_type", object)):
        if klass in sets.ALL_SETS:
            return klass.__name__ in SPECS
    return True


def constraint_class(set_class):
    """The registered constraint that adapts ``set_class``."""
    return next(c for c in constraints.ALL_CONSTRAINTS if issubclass(c, set_class))


CONSTRAINTS = [
    constraint_class(set_class).from_config(params)
    for set_class in sets.ALL_SETS
    if set_class.__name__ in SPECS  # the sets this Keras runs
    for params in SPECS[set_class.__name__].examples
]

REGULARIZERS = [
    NonNegPenalty(strength=0.5),
    NonNegPenalty(strength=0.1, power=2),
    BoxPenalty(-1.0, 0.5, strength=2.0),
    SumToPenalty(1.0, axis=(0, 1), strength=0.3),
    SumToPenalty(2.0, strength=1.0, power=1),
    SimplexPenalty(1.0, strength=0.2),
    SimplexPenalty(2.0, axis=-1, strength=1.0, power=1),
    L2BallPenalty(1.5, axis=(0, 1), strength=0.1),
    NormBandPenalty(0.5, 1.0, strength=1.0, power=1),
    DistancePenalty(SumTo(1.0, axis=[0, 1]), strength=0.5),
    DistancePenalty(NonNeg(), strength=1.0, power=1),
    MonotonePenalty(strength=0.5),
    MonotonePenalty(False, axis=-1, min_step=0.1, strength=1.0, power=1),
    DistancePenalty(Monotone(min_value=0.0, max_value=2.0), strength=0.5),
    FirstDifferencePenalty(l1=0.01, l2=0.1),
    SecondDifferencePenalty(axis=-1, l1=0.0, l2=0.5),
    ConvexityPenalty(strength=0.5),
    ConvexityPenalty(True, axis=-1, strength=1.0, power=1),
    DistancePenalty(keras.constraints.MaxNorm(1.0), strength=1.0),
    OrthogonalPenalty(strength=0.1),
    IntersectPenalty(SumTo(1.0, axis=[0, 1]), Box(-1.0, 5.0), strength=0.1),
    IntersectPenalty(Monotone(axis=0), NonNeg(), strength=1.0, power=1),
    OrthogonalPenalty(axis=0, strength=1.0, power=1),
    *(
        [SpectralBallPenalty(1.0, strength=0.5), SpectralBallPenalty(0.5, axis=0, power=1)]
        if "SpectralBall" in SPECS
        else []
    ),
]


def catalog_model(seed=0, regularized=True):
    """A Dense chain with one layer per catalogued constraint (and a regularizer,
    unless ``regularized`` is False).

    Layer ``layer_i`` carries ``CONSTRAINTS[i]`` on its 6 x 6 kernel, so every
    training-setup test that uses this model covers every constraint,
    including ones added later.
    """
    keras.utils.set_random_seed(seed)
    layers = [
        keras.layers.Dense(
            6,
            name=f"layer_{i}",
            kernel_constraint=constraint,
            kernel_regularizer=REGULARIZERS[i % len(REGULARIZERS)] if regularized else None,
        )
        for i, constraint in enumerate(CONSTRAINTS)
    ]
    return keras.Sequential([keras.Input((6,)), *layers])


def catalog_violations(kernels, dtype="float32"):
    """``{layer name: (violation, allowance)}`` for the kernels of a catalog model."""
    from tests.specs import allowed, max_violation

    out = {}
    for i, constraint in enumerate(CONSTRAINTS):
        w = kernels[f"layer_{i}"]
        out[f"layer_{i}"] = (max_violation(constraint, w), allowed(constraint, w, dtype))
    return out


def assert_catalog_feasible(kernels, dtype="float32"):
    bad = {name: v for name, v in catalog_violations(kernels, dtype).items() if v[0] > v[1]}
    assert not bad, f"infeasible (violation, allowance): {bad}"
