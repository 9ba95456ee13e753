"""Promises every penalty keeps, and every constraint's companion keeps."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints import regularizers
from keras_kernel_constraints._core import registry as _lookup
from keras_kernel_constraints.constraints import NonNeg
from keras_kernel_constraints.regularizers import DistancePenalty
from tests.catalog import CONSTRAINTS, REGULARIZERS, usable
from tests.helpers import (
    FLOAT_DTYPES,
    assert_config_round_trips,
    defaults_warning,
    tensor,
    to_numpy,
)
from tests.specs import spec_of

# Sum residuals and norms are computed from rounded entries: how far from 0
# a companion penalty (strength 1, power 1) may be on a projected weight.
VANISH_TOL = {"float64": 1e-12, "float32": 1e-5, "float16": 0.1, "bfloat16": 0.5}


# The set parameters of every penalty are checked through its set's spec
# (tests/test_specs.py); these are the penalties' own parameters.
@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: regularizers.NonNegPenalty(strength=-0.1), "strength"),
        (lambda: regularizers.NonNegPenalty(strength=float("nan")), "strength"),
        (lambda: regularizers.NonNegPenalty(strength=None), "strength"),
        (lambda: regularizers.NonNegPenalty(strength=float("inf")), "strength"),
        (lambda: regularizers.NonNegPenalty(strength=0.1, power=3), "power"),
        (lambda: regularizers.NonNegPenalty(strength=0.1, power=1.5), "power"),
        (lambda: regularizers.NonNegPenalty(strength=0.1, power="2"), "power"),
        (lambda: regularizers.SumToPenalty(1.0, strength=-1), "strength"),
        (lambda: regularizers.SimplexPenalty(1.0, strength=-1.0), "strength"),
        (lambda: regularizers.SimplexPenalty(1.0, power=4), "power"),
        (lambda: regularizers.MonotonePenalty(power=3), "power"),
        (lambda: regularizers.DistancePenalty(None), "constraint"),
        (lambda: regularizers.DistancePenalty("no_such_set"), "constraint"),
        (lambda: regularizers.DistancePenalty(NonNeg(), power=0), "power"),
        (lambda: regularizers.FirstDifferencePenalty(l1=-0.1), "l1"),
        (lambda: regularizers.IntersectPenalty(NonNeg(), strength=-1.0), "strength"),
        (lambda: regularizers.IntersectPenalty(NonNeg(), power=3), "power"),
        (lambda: regularizers.IntersectPenalty(), "sets"),
        (lambda: regularizers.SecondDifferencePenalty(l2=float("inf")), "l2"),
        (lambda: regularizers.SecondDifferencePenalty(axis=None), "axis"),
        (lambda: regularizers.FirstDifferencePenalty(axis=(0, 1)), "axis"),
    ],
)
def test_bad_penalty_arguments_raise_naming_the_parameter(make, parameter):
    with pytest.raises(ValueError, match=f"`{parameter}`"):
        make()


def test_every_public_regularizer_is_catalogued():
    assert {type(r) for r in REGULARIZERS} == set(filter(usable, regularizers.ALL_REGULARIZERS))


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
def test_config_is_json_and_round_trips_exactly(reg):
    assert_config_round_trips(reg, regularizers.get)


@pytest.mark.parametrize("cls", regularizers.ALL_REGULARIZERS, ids=lambda c: c.__name__)
def test_lookup_by_class_name_and_snake_case_alias(cls):
    alias = _lookup.snake_case(cls.__name__)
    assert getattr(regularizers, alias) is cls
    if cls not in (DistancePenalty, regularizers.IntersectPenalty):  # no default instance
        with defaults_warning(cls):
            assert type(regularizers.get(alias)) is cls


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
def test_companion_penalties_vanish_on_the_set_and_not_off_it(constraint, dtype, rng):
    w = tensor(3 * rng.normal(size=spec_of(constraint)[0].shapes[0]), dtype)
    feasible = constraint(w)
    for penalty in (
        constraint.penalty(1.0, power=1),
        DistancePenalty(constraint, strength=1.0, power=1),
    ):
        on_set = float(to_numpy(penalty(feasible)))
        off_set = float(to_numpy(penalty(w)))
        assert 0.0 <= on_set <= VANISH_TOL[dtype] * (1 + np.abs(to_numpy(feasible)).max())
        assert off_set > 0.1


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_penalties_are_float32(reg, dtype, rng):
    loss = reg(tensor(rng.normal(size=(3, 3, 2, 4)), dtype))
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.isfinite(float(to_numpy(loss)))


@pytest.mark.parametrize("reg", [r for r in REGULARIZERS if "axis" in r.get_config()], ids=repr)
def test_axis_beyond_the_rank_raises_on_first_use(reg):
    bad = type(reg).from_config({**reg.get_config(), "axis": 3})
    with pytest.raises(ValueError, match=rf"{type(reg).__name__}: `axis`=3 is out of range"):
        bad(np.zeros((2, 2), "float32"))
