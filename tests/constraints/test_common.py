"""Promises every constraint keeps: config, lookup, dtype, first-use checks."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints import constraints
from keras_kernel_constraints._core import registry as _lookup
from tests.catalog import CONSTRAINTS, usable
from tests.helpers import (
    FLOAT_DTYPES,
    assert_config_round_trips,
    defaults_warning,
    tensor,
    tensorflow_only,
    to_numpy,
)
from tests.specs import DEFAULT_SHAPES, allowed, max_violation, spec_of


def test_every_set_has_exactly_one_constraint():
    from keras_kernel_constraints import sets

    adapted = [
        next(k for k in cls.__mro__[1:] if k in sets.ALL_SETS)
        for cls in constraints.ALL_CONSTRAINTS
    ]
    assert sorted(k.__name__ for k in adapted) == sorted(k.__name__ for k in sets.ALL_SETS)


def test_every_public_constraint_is_catalogued():
    assert {type(c) for c in CONSTRAINTS} == set(filter(usable, constraints.ALL_CONSTRAINTS))


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
def test_config_is_json_and_round_trips_exactly(constraint):
    assert_config_round_trips(constraint, constraints.get)


@pytest.mark.parametrize("cls", constraints.ALL_CONSTRAINTS, ids=lambda c: c.__name__)
def test_lookup_by_class_name_and_snake_case_alias(cls):
    alias = _lookup.snake_case(cls.__name__)
    assert getattr(constraints, alias) is cls
    if cls is constraints.Intersect:  # a name alone holds no members
        for name in (cls.__name__, alias):
            with pytest.raises(ValueError, match="`sets`"):
                constraints.get(name)
        return
    with defaults_warning(cls):
        assert type(constraints.get(cls.__name__)) is cls
    with defaults_warning(cls):
        assert type(constraints.get(alias)) is cls


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
def test_calling_the_constraint_on_a_variable_projects_it(constraint, dtype, rng):
    # The Keras door (a variable in, as the optimizer calls it) against the
    # set's independent reference from its spec, in every dtype.
    spec, params = spec_of(constraint)
    shape = spec.shapes[0]
    w = tensor(rng.normal(size=shape), dtype)
    out = constraint(keras.Variable(w, dtype=dtype))
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert tuple(out.shape) == shape
    got = to_numpy(out).astype(np.float64)
    assert not np.any(np.isnan(got))
    if spec.reference is None:  # exactness is checked against a solver in its module
        assert max_violation(constraint, got) <= 4 * allowed(constraint, got, dtype)
        return
    reference = spec.reference(params, to_numpy(w).astype(np.float64))
    scale = max(1.0, float(np.abs(reference).max()))
    np.testing.assert_allclose(
        got, reference, rtol=0, atol=4 * spec.allowance(params, reference, dtype, scale)
    )


@tensorflow_only("autograph converts a user's tf.function")
def test_autograph_converts_every_constraint_without_a_warning(caplog):
    # A user's own tf.function (autograph on) must not log "could not transform".
    import tensorflow as tf

    for constraint in CONSTRAINTS:
        # Specs that name their shapes (matrices, per-entry bounds) need one of those.
        spec = spec_of(constraint)[0]
        if spec.layout == "matrices":
            shape: tuple[int, ...] = (4, 4)
        else:
            shape = (3, 4, 2) if spec.shapes == DEFAULT_SHAPES else spec.shapes[0]
        tf.function(constraint)(tf.ones(shape, "float32"))
    assert not [r.message for r in caplog.records if "AutoGraph" in r.getMessage()]


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
def test_penalty_companion_is_a_registered_regularizer(constraint):
    penalty = constraint.penalty(0.1)
    assert isinstance(penalty, keras.regularizers.Regularizer)
    assert penalty.strength == 0.1
    assert keras.saving.get_registered_name(type(penalty)).startswith("keras_kernel_constraints>")


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_integer_or_bool_weights_raise_on_first_use(constraint, dtype):
    message = f"{type(constraint).__name__} needs a floating-point weight"
    with pytest.raises(ValueError, match=message):
        constraint(np.zeros((3, 4), dtype))


@pytest.mark.parametrize(
    "constraint", [c for c in CONSTRAINTS if "axis" in c.get_config()], ids=repr
)
def test_axis_beyond_the_rank_raises_on_first_use(constraint):
    bad = type(constraint).from_config({**constraint.get_config(), "axis": 2})
    with pytest.raises(ValueError, match=rf"{type(constraint).__name__}: `axis`=2 is out of range"):
        bad(np.zeros((3, 4), "float32"))
