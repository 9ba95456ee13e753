"""One or more instances of every public constraint and regularizer.

Generic tests (configs, lookup, dtype checks, penalties vanishing on the
set) iterate over these; ``test_every_public_class_is_catalogued`` fails when
a new public class is added without an entry here.
"""

import keras

from keras_kernel_constraints.constraints import (
    Box,
    CappedSimplex,
    L1Ball,
    L2Ball,
    LinfBall,
    Monotone,
    NonNeg,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from keras_kernel_constraints.regularizers import (
    BoxPenalty,
    DistancePenalty,
    FirstDifferencePenalty,
    L2BallPenalty,
    MonotonePenalty,
    NonNegPenalty,
    NormBandPenalty,
    SecondDifferencePenalty,
    SimplexPenalty,
    SumToPenalty,
)

CONSTRAINTS = [
    NonNeg(),
    Box(-0.5, 2.0),
    SumTo(),
    SumTo(2.5, axis=(0, 1)),
    SumTo(-1.0, axis=-1),
    Simplex(),
    Simplex(2.0, axis=(0, 1)),
    CappedSimplex(1.0, 0.0, 0.2),
    CappedSimplex(0.0, -1.0, 1.0, axis=-1),
    L1Ball(0.5),
    L2Ball(1.0, axis=(0, 1)),
    UnitSphere(),
    UnitSphere(2.0, axis=-1),
    NormBand(0.5, 1.5),
    LinfBall(0.3),
    Monotone(),
    Monotone(increasing=False, axis=-1, min_value=-1.0, max_value=1.0, min_step=0.05),
    Monotone(min_value=0.0),
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
    DistancePenalty(keras.constraints.MaxNorm(1.0), strength=1.0),
]


def catalog_model(seed=0):
    """A Dense chain with one layer per catalogued constraint (and a regularizer).

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
            kernel_regularizer=REGULARIZERS[i % len(REGULARIZERS)],
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
