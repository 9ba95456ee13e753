"""Simplex, CappedSimplex and L1Ball: arguments, first-use checks, companions."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints import regularizers
from keras_kernel_constraints.constraints import CappedSimplex, L1Ball, Simplex
from tests.helpers import to_numpy


@pytest.mark.parametrize(
    "constraint, shape",
    [
        (CappedSimplex(1.0, 0.0, 0.2), (3, 4)),  # 3 entries * 0.2 < 1
        (CappedSimplex(1.0, 0.5, 2.0), (3, 4)),  # 3 entries * 0.5 > 1
        (CappedSimplex(1.0, 0.0, 0.2, axis=-1), (10, 2)),
    ],
)
def test_capped_simplex_that_cannot_be_satisfied_raises_on_first_use(constraint, shape):
    with pytest.raises(ValueError, match=r"CappedSimplex: no group of n=\d+ entries"):
        constraint(np.zeros(shape, "float32"))


def test_capped_simplex_failure_surfaces_from_fit():
    dense = keras.layers.Dense(2, kernel_constraint=CappedSimplex(1.0, 0.0, 0.1))
    model = keras.Sequential([keras.Input((3,)), dense])
    model.compile("sgd", "mse", jit_compile=True)
    with pytest.raises(ValueError, match="CappedSimplex: no group of n=3 entries"):
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)


def test_companions():
    assert Simplex(2.0, axis=-1).penalty(0.1) == regularizers.SimplexPenalty(
        2.0, axis=-1, strength=0.1, power=2
    )
    assert L1Ball(1.0).penalty(0.1) == regularizers.DistancePenalty(
        L1Ball(1.0), strength=0.1, power=2
    )
    capped = CappedSimplex(1.0, 0.0, 0.5)
    assert capped.penalty(0.2, power=1) == regularizers.DistancePenalty(
        capped, strength=0.2, power=1
    )


def test_simplex_on_an_embedding_is_row_wise():
    table = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    rows = to_numpy(Simplex(axis=-1)(table))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)
    assert rows.min() >= 0.0
