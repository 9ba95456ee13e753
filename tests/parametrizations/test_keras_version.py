"""Parametrizations need Keras >= 3.4: older Keras is refused clearly, not mid-fit."""

import keras
import pytest

from keras_kernel_constraints import parametrizations, training
from keras_kernel_constraints._core.versions import version_tuple
from tests.helpers import keras_at_least


@pytest.mark.skipif(keras_at_least(3, 4), reason=f"Keras {keras.__version__} is recent enough")
def test_an_older_keras_is_refused_with_the_version_it_needs():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")])
    refused = r"Parametrized needs Keras >= 3\.4 \(.*\); found Keras 3\."
    with pytest.raises(ValueError, match=refused):
        parametrizations.Parametrized(keras.layers.Dense(2), {"kernel": parametrizations.SumTo()})
    with pytest.raises(ValueError, match=r"parametrize\(\) needs Keras >= 3\.4"):
        training.parametrize(model, training.Rule("head", parametrization=parametrizations.SumTo()))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3.4.1", (3, 4)),
        ("3.10.0", (3, 10)),
        ("3.5.0rc1", (3, 5)),
        ("3.6rc1", (3, 6)),
        ("3", (3, 0)),
    ],
)
def test_version_strings_are_read_as_major_and_minor(text, expected):
    assert version_tuple(text) == expected
