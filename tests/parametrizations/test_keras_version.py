"""Parametrizations need Keras >= 3.4: older Keras is refused clearly, not mid-fit."""

import keras
import pytest

from keras_kernel_constraints import parametrizations, training
from tests.helpers import keras_at_least


@pytest.mark.skipif(keras_at_least(3, 4), reason=f"Keras {keras.__version__} is recent enough")
def test_an_older_keras_is_refused_with_the_version_it_needs():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")])
    with pytest.raises(ValueError, match=r"Parametrized needs Keras >= 3\.4; found Keras 3\."):
        parametrizations.Parametrized(keras.layers.Dense(2), {"kernel": parametrizations.SumTo()})
    with pytest.raises(ValueError, match=r"parametrize\(\) needs Keras >= 3\.4"):
        training.parametrize(model, training.Rule("head", parametrization=parametrizations.SumTo()))
