"""SimplexPenalty against its formula; bad arguments."""

import numpy as np
import pytest

from keras_kernel_constraints.regularizers import SimplexPenalty
from tests.helpers import needs_float64, to_numpy


@pytest.mark.parametrize("power", [1, 2])
@needs_float64
def test_simplex_penalty_matches_numpy(power, rng):
    w = rng.normal(size=(4, 5))
    reg = SimplexPenalty(1.5, strength=0.7, power=power)
    want = 0.7 * (np.sum(np.maximum(-w, 0) ** power) + np.sum(np.abs(w.sum(axis=0) - 1.5) ** power))
    np.testing.assert_allclose(float(to_numpy(reg(w))), want, rtol=1e-12)
