"""SimplexPenalty against its formula; bad arguments."""

import numpy as np
import pytest

from keras_kernel_constraints.regularizers import SimplexPenalty
from tests.helpers import to_numpy


@pytest.mark.parametrize("power", [1, 2])
def test_simplex_penalty_matches_numpy(power, rng):
    w = rng.normal(size=(4, 5))
    reg = SimplexPenalty(1.5, strength=0.7, power=power)
    want = 0.7 * (np.sum(np.maximum(-w, 0) ** power)
                  + np.sum(np.abs(w.sum(axis=0) - 1.5) ** power))
    np.testing.assert_allclose(float(to_numpy(reg(w))), want, rtol=1e-12)


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: SimplexPenalty(0.0), "value"),
        (lambda: SimplexPenalty(-1.0), "value"),
        (lambda: SimplexPenalty(float("nan")), "value"),
        (lambda: SimplexPenalty(1.0, axis=[0, 0]), "axis"),
        (lambda: SimplexPenalty(1.0, strength=-1.0), "strength"),
        (lambda: SimplexPenalty(1.0, power=4), "power"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_parameter(make, parameter):
    with pytest.raises(ValueError, match=f"`{parameter}`"):
        make()
