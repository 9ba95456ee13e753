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
    NonNeg,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from keras_kernel_constraints.regularizers import (
    BoxPenalty,
    DistancePenalty,
    L2BallPenalty,
    NonNegPenalty,
    NormBandPenalty,
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
]

REGULARIZERS = [
    NonNegPenalty(0.5),
    NonNegPenalty(0.1, power=2),
    BoxPenalty(-1.0, 0.5, strength=2.0),
    SumToPenalty(1.0, axis=(0, 1), strength=0.3),
    SumToPenalty(2.0, strength=1.0, power=1),
    SimplexPenalty(1.0, strength=0.2),
    SimplexPenalty(2.0, axis=-1, strength=1.0, power=1),
    L2BallPenalty(1.5, axis=(0, 1), strength=0.1),
    NormBandPenalty(0.5, 1.0, strength=1.0, power=1),
    DistancePenalty(SumTo(1.0, axis=[0, 1]), strength=0.5),
    DistancePenalty(NonNeg(), strength=1.0, power=1),
    DistancePenalty(keras.constraints.MaxNorm(1.0), strength=1.0),
]
