"""Checks every set gets from its spec (``tests/specs``): one table, many checks.

Adding a set without a spec fails ``test_every_set_has_a_spec``; a spec then
drives bad-argument checks on every door (set, constraint, projection
function, penalty), exactness against its independent reference, and
compiled-against-eager agreement.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_kernel_constraints import constraints, projections, regularizers, sets
from tests.helpers import EPS, as_f64, jit, tensor
from tests.specs import ALL_SPECS, DEFAULT_SHAPES, SPECS

SPEC_LIST = [SPECS[name] for name in sorted(SPECS)]


def set_class(spec):
    return getattr(sets, spec.name)


def constraint_class(spec):
    return next(c for c in constraints.ALL_CONSTRAINTS if issubclass(c, set_class(spec)))


def test_every_set_has_a_spec():
    assert set(ALL_SPECS) == {cls.__name__ for cls in sets.ALL_SETS}


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.name)
def test_every_example_is_valid_and_round_trips(spec):
    assert spec.examples
    for params in spec.examples:
        built = set_class(spec).from_config(params)
        assert built.get_config() == {**built.get_config(), **params}
        assert set_class(spec).from_config(built.get_config()) == built


def doors(spec, kwargs):
    """Every public way to state the set with these arguments."""
    yield set_class(spec)
    yield constraint_class(spec)
    if spec.function:
        function = getattr(projections, spec.function)
        yield lambda **k: function(np.zeros((2, 3), "float32"), **k)
    if spec.penalty:
        penalty = getattr(regularizers, spec.penalty)
        if set(kwargs) <= set(inspect.signature(penalty).parameters):
            yield penalty


BAD = [
    pytest.param(spec, kwargs, pattern, id=f"{spec.name}-{kwargs}")
    for spec in SPEC_LIST
    for kwargs, pattern in spec.bad_arguments
]


@pytest.mark.parametrize("spec, kwargs, pattern", BAD)
def test_bad_arguments_raise_naming_the_parameter_at_every_door(spec, kwargs, pattern):
    match = f"`{pattern}`" if pattern.isidentifier() else pattern
    for make in doors(spec, kwargs):
        with pytest.raises(ValueError, match=match):
            make(**kwargs)


EXAMPLES = [
    pytest.param(spec, params, id=f"{spec.name}-{i}")
    for spec in SPEC_LIST
    for i, params in enumerate(spec.examples)
]


SHAPED = [
    pytest.param(spec, params, shape, id=f"{spec.name}-{i}-{shape}")
    for spec in SPEC_LIST
    for i, params in enumerate(spec.examples)
    for shape in spec.shapes
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec, params, shape", SHAPED)
def test_projection_matches_the_independent_reference(spec, params, shape, dtype, rng):
    if spec.reference is None:
        pytest.skip(f"{spec.name}: exactness is checked against an optimizer in its module")
    w = tensor(3 * rng.normal(size=shape), dtype)
    out = set_class(spec).from_config(params).project(w)
    assert keras.backend.standardize_dtype(out.dtype) == dtype and tuple(out.shape) == shape
    x = as_f64(w)
    reference = spec.reference(params, x)
    scale = max(1.0, float(np.abs(x).max()))
    tolerance = 4 * spec.allowance(params, reference, dtype, scale)
    np.testing.assert_allclose(as_f64(out), reference, rtol=0, atol=tolerance)


@pytest.mark.parametrize("spec, params", EXAMPLES)
def test_closed_form_distance_is_the_distance_to_the_projection(spec, params, rng):
    the_set = set_class(spec).from_config(params)
    if not the_set.has_distance:
        pytest.skip(f"{spec.name} has no closed-form distance")
    w = 3 * rng.normal(size=spec.shapes[0])
    gap = (w - spec.reference(params, w)) ** 2
    axes = spec.group(params, w.ndim)
    expected = np.sqrt(gap.sum(axis=axes, keepdims=True) if axes else gap)
    distance = as_f64(the_set.distance(tensor(w, "float64")))
    if spec.layout == "matrices":  # one distance per matrix
        distance = distance.reshape(expected.size)
        expected = expected.reshape(-1)
    distance = np.broadcast_to(distance, expected.shape)
    np.testing.assert_allclose(distance, expected, rtol=1e-10, atol=1e-12)


EXTREMES = [
    pytest.param(spec, *case, id=f"{spec.name}-{case[1]}-{case[2]}")
    for spec in SPEC_LIST
    for case in spec.extremes
]


@pytest.mark.parametrize("spec, params, w, dtype, expected", EXTREMES)
def test_extreme_inputs_project_exactly_at_every_door(spec, params, w, dtype, expected):
    # The scale of the input must not round the set's own numbers away
    # (e.g. a simplex's target next to entries of 1e9 in float32).
    x = tensor(w, dtype)
    projections_of = [
        set_class(spec).from_config(params).project(x),
        constraint_class(spec).from_config(params)(x),
    ]
    if spec.function:
        projections_of.append(getattr(projections, spec.function)(x, **params))
    for out in projections_of:
        np.testing.assert_allclose(as_f64(out), expected, rtol=EPS[dtype], atol=EPS[dtype])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("spec, params", EXAMPLES)
def test_compiled_projection_matches_eager(spec, params, dtype, rng):
    # Groups of 72 give XLA sums to reorder; specs that name their shapes
    # (matrices, per-entry bounds) need one of those.
    own_shapes = spec.layout == "matrices" or spec.shapes != DEFAULT_SHAPES
    shape = spec.shapes[0] if own_shapes else (3, 3, 4, 8)
    w = tensor(rng.normal(size=shape), dtype)
    project = set_class(spec).from_config(params).project
    compiled = jit(lambda x: project(x))
    np.testing.assert_allclose(
        as_f64(compiled(w)), as_f64(project(w)), rtol=0, atol=spec.xla_eps * EPS[dtype]
    )
