"""L2BallPenalty and NormBandPenalty against their formulas; bad arguments."""

import numpy as np
import pytest

from keras_kernel_constraints.constraints import L2Ball, NormBand
from keras_kernel_constraints.regularizers import DistancePenalty, L2BallPenalty, NormBandPenalty
from tests.helpers import gradient, needs_float64, to_numpy


@pytest.mark.parametrize("power", [1, 2])
@needs_float64
def test_norm_penalties_match_numpy_and_are_the_euclidean_distance(power, rng):
    w = rng.normal(size=(6, 8)) * np.linspace(0.1, 2.0, 8)
    norms = np.linalg.norm(w, axis=0)
    ball = L2BallPenalty(1.0, strength=0.5, power=power)
    np.testing.assert_allclose(
        float(to_numpy(ball(w))), 0.5 * np.sum(np.maximum(norms - 1.0, 0) ** power), rtol=1e-12
    )
    band = NormBandPenalty(0.4, 1.0, strength=0.5, power=power)
    distance = np.maximum(0.4 - norms, 0) + np.maximum(norms - 1.0, 0)
    np.testing.assert_allclose(float(to_numpy(band(w))), 0.5 * np.sum(distance**power), rtol=1e-12)
    # The closed forms are the distance to the set, as DistancePenalty measures it.
    np.testing.assert_allclose(
        float(to_numpy(ball(w))),
        float(to_numpy(DistancePenalty(L2Ball(1.0), strength=0.5, power=power)(w))),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        float(to_numpy(band(w))),
        float(to_numpy(DistancePenalty(NormBand(0.4, 1.0), strength=0.5, power=power)(w))),
        rtol=1e-12,
    )


def test_norm_penalties_do_not_overflow_in_float32():
    w = np.full((4,), 3e38, "float32")
    loss = float(to_numpy(L2BallPenalty(1.0, strength=1.0, power=1)(w)))
    assert np.isinf(loss) or loss > 1e38  # the true distance is not representable; no NaN


@pytest.mark.parametrize(
    "penalty",
    [
        NormBandPenalty(0.5, 1.0, strength=1.0, power=1),
        NormBandPenalty(0.5, 1.0, strength=1.0, power=2),
        L2BallPenalty(1.0, strength=1.0),
    ],
    ids=repr,
)
def test_the_gradient_at_a_zero_group_is_finite(penalty):
    # Found by CI: a NormBandPenalty on a kernel whose column a Simplex had
    # zeroed gave a NaN gradient there (sqrt's derivative at 0, multiplied by
    # the 0 of a where() branch), hence NaN weights. The norm is not
    # differentiable at 0; its gradient there is taken as 0.
    w = np.array([[0.3, 0.0], [-0.3, 0.0]])  # column 1 is a zero group; column 0 is inside
    grad = gradient(penalty, w, compiled=True)
    assert np.all(np.isfinite(grad)), grad
    np.testing.assert_array_equal(grad[:, 1], 0.0)
    assert np.all(grad[:, 0] != 0.0) or isinstance(penalty, L2BallPenalty)  # below the band
