"""L2Ball, UnitSphere, NormBand and LinfBall: arguments, companions, Keras parity."""

import keras
import numpy as np

from keras_kernel_constraints import regularizers
from keras_kernel_constraints.constraints import L2Ball, LinfBall, NormBand, UnitSphere
from tests.helpers import to_numpy


def test_companions():
    assert L2Ball(2.0).penalty(0.1) == regularizers.L2BallPenalty(
        2.0, axis=None, strength=0.1, power=2
    )
    assert UnitSphere(1.0, axis=-1).penalty(0.1) == regularizers.NormBandPenalty(
        1.0, 1.0, axis=-1, strength=0.1
    )
    band = regularizers.NormBandPenalty(0.5, 2.0, axis=None, strength=0.3, power=1)
    assert NormBand(0.5, 2.0).penalty(0.3, 1) == band
    assert LinfBall(0.5).penalty(0.1) == regularizers.BoxPenalty(-0.5, 0.5, strength=0.1, power=1)


def test_l2_ball_is_exact_where_keras_max_norm_is_not(rng):
    w = rng.normal(size=(6, 4)).astype("float32")
    w[:, 0] *= 0.1  # one unit well inside the ball
    ours = to_numpy(L2Ball(1.0)(w))
    theirs = to_numpy(keras.constraints.MaxNorm(1.0, axis=0)(w))
    np.testing.assert_array_equal(ours[:, 0], w[:, 0])  # untouched inside
    assert not np.array_equal(theirs[:, 0], w[:, 0])  # eps shrinks it
    np.testing.assert_array_equal(to_numpy(L2Ball(1.0)(ours)), ours)  # idempotent here
    np.testing.assert_allclose(np.linalg.norm(ours, axis=0)[1:], 1.0, rtol=1e-6)
