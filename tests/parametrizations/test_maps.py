"""Every map: round trip on the set's interior, feasibility for any ``v``, gradients, XLA.

One table (``CASES``) drives every check. Each case holds a map, a weight
shape, a sampler of points inside the set (``interior``) and an independent
NumPy feasibility check (``violation``: 0 on the set).

Tolerances: the round trip ``forward(right_inverse(w)) == w`` holds to
``1e-6 * max(1, |w|)`` in float32 (``1e-12`` in float64); the cumulative
sum of ``Monotone`` and the iteration of ``Orthogonal`` add a factor
``n`` (entries in a slice) and 10 respectively. Feasibility is checked to
the dtype's rounding of the set's own equations.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import keras
import numpy as np
import pytest
import scipy.linalg

from keras_kernel_constraints import parametrizations as P
from keras_kernel_constraints.parametrizations.entries import MARGIN
from tests.helpers import EPS, gradient, jit, needs_float64, needs_keras_3_4, tensor, to_numpy

pytestmark = needs_keras_3_4


def units(w):
    """The weight as (entries per unit, units): every axis but the last are one group."""
    return w.reshape(-1, w.shape[-1])


@dataclasses.dataclass
class Case:
    parametrization: P.Parametrization
    shape: tuple[int, ...]
    interior: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
    violation: Callable[[np.ndarray], float]
    slack: float = 1.0  # extra round-trip factor (cumsum, iteration)

    @property
    def id(self):
        return type(self.parametrization).__name__ + repr(self.parametrization.get_config())


def _simplex_point(rng, shape, value=1.0):
    w = rng.uniform(0.05, 1.0, shape)
    return w / w.sum(axis=tuple(range(len(shape) - 1)), keepdims=True) * value


def _monotone_point(rng, shape, min_value, min_step):
    steps = rng.uniform(0.01, 1.0, shape) + min_step
    first = (min_value if min_value is not None else -2.0) + rng.uniform(0.01, 1.0, shape[1:])
    steps[0] = first
    return np.cumsum(steps, axis=0)


def _sphere_point(rng, shape, radius):
    w = rng.standard_normal(shape)
    return w / np.linalg.norm(units(w), axis=0) * radius


def _ball_point(rng, shape, radius):
    w = _sphere_point(rng, shape, radius)
    return w * rng.uniform(0.0, 0.95, shape[-1:])


def _orthonormal(rng, shape):
    """Orthonormal columns (tall) or rows (wide) of the (entries, units) matrix."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    q, _ = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    return (q if rows >= cols else q.T).reshape(shape)


def _group_sum_error(w, value):
    return float(np.max(np.abs(units(w).sum(axis=0) - value)))


def _monotone_violation(w, min_value, min_step):
    steps = np.diff(w, axis=0) - min_step
    below = 0.0 if min_value is None else max(0.0, float(min_value - w.min()))
    return max(below, float(max(0.0, -steps.min())))


def _orthonormal_violation(w):
    m = units(w)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    return float(np.max(np.abs(gram - np.eye(len(gram)))))


CASES = [
    Case(
        P.Positive(),
        (3, 4),
        lambda rng, s: rng.uniform(1e-3, 20.0, s),
        lambda w: max(0.0, float(-w.min())),
    ),
    Case(
        P.Positive(min_value=-2.0),
        (5,),
        lambda rng, s: -2.0 + rng.uniform(1e-2, 5.0, s),
        lambda w: max(0.0, float(-2.0 - w.min())),
    ),
    Case(
        P.Box(-1.0, 5.0),
        (3, 3, 2),
        lambda rng, s: rng.uniform(-0.99, 4.99, s),
        lambda w: max(0.0, float(-1.0 - w.min()), float(w.max() - 5.0)),
    ),
    Case(
        P.SumTo(1.0),
        (3, 3, 2, 4),
        lambda rng, s: (lambda w: w + (1.0 - units(w).sum(0)) / 18)(rng.normal(0, 3, s)),
        lambda w: _group_sum_error(w, 1.0),
    ),
    Case(
        P.Simplex(2.0),
        (6, 3),
        lambda rng, s: _simplex_point(rng, s, 2.0),
        lambda w: max(_group_sum_error(w, 2.0), float(-w.min())),
    ),
    Case(
        P.Monotone(),
        (9, 2, 3),
        lambda rng, s: _monotone_point(rng, s, None, 0.0),
        lambda w: _monotone_violation(w, None, 0.0),
        slack=9,
    ),
    Case(
        P.Monotone(min_value=0.0, min_step=0.1),
        (7, 4),
        lambda rng, s: _monotone_point(rng, s, 0.0, 0.1),
        lambda w: _monotone_violation(w, 0.0, 0.1),
        slack=7,
    ),
    Case(
        P.Monotone(False, min_value=1.0),
        (5, 3),
        lambda rng, s: _monotone_point(rng, s, 1.0, 0.0)[::-1],
        lambda w: _monotone_violation(w[::-1], 1.0, 0.0),
        slack=5,
    ),
    Case(
        P.Sphere(2.0),
        (3, 3, 2, 4),
        lambda rng, s: _sphere_point(rng, s, 2.0),
        lambda w: float(np.max(np.abs(np.linalg.norm(units(w), axis=0) - 2.0))),
    ),
    Case(
        P.L2Ball(3.0),
        (8, 4),
        lambda rng, s: _ball_point(rng, s, 3.0),
        lambda w: max(0.0, float(np.max(np.linalg.norm(units(w), axis=0) - 3.0))),
    ),
    Case(
        P.Orthogonal(),
        (3, 3, 2, 8),
        _orthonormal,
        _orthonormal_violation,
        slack=10,
    ),
    Case(P.Orthogonal(), (4, 9), _orthonormal, _orthonormal_violation, slack=10),
]
IDS = [case.id for case in CASES]


def test_every_map_is_in_the_table():
    assert {type(c.parametrization) for c in CASES} == set(P.ALL_MAPS)


def round_trip_tolerance(case, dtype, w):
    base = 1e-6 if dtype == "float32" else 1e-12
    return base * case.slack * max(1.0, float(np.max(np.abs(w))))


def feasibility_tolerance(case, dtype, w):
    n = int(np.prod(case.shape))
    return 4 * n * EPS[dtype] * max(1.0, float(np.max(np.abs(w))))


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=needs_float64)])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_of_right_inverse_is_the_identity_on_the_interior(case, dtype, rng):
    for _ in range(5):
        w = case.interior(rng, case.shape)
        m = case.parametrization
        back = to_numpy(m.forward(m.right_inverse(tensor(w, dtype))))
        assert back.dtype == np.dtype(dtype)
        w_in_dtype = w.astype(dtype)
        error = float(np.max(np.abs(back - w_in_dtype)))
        assert error <= round_trip_tolerance(case, dtype, w), error


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_lands_in_the_set_for_any_free_variable(case, scale, rng):
    for _ in range(3):
        v = rng.standard_normal(case.shape) * scale
        w = to_numpy(case.parametrization.forward(tensor(v, "float32")))
        assert np.all(np.isfinite(w))
        assert case.violation(w.astype(np.float64)) <= feasibility_tolerance(case, "float32", w)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_right_inverse_of_any_weight_is_finite_and_maps_into_the_set(case, rng):
    w = rng.standard_normal(case.shape) * 3
    v = to_numpy(case.parametrization.right_inverse(tensor(w, "float32")))
    assert np.all(np.isfinite(v))
    back = to_numpy(case.parametrization.forward(tensor(v, "float32")))
    assert case.violation(back.astype(np.float64)) <= feasibility_tolerance(case, "float32", back)


@needs_float64
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_right_inverse_of_an_outside_weight_is_its_projection_moved_in_by_the_margin(case, rng):
    """Outside the set, forward(right_inverse(w)) is the nearest point, moved into the
    open image by at most the documented margin (MARGIN times the weight's scale per
    entry; a monotone slice adds it up to n times)."""
    s = case.parametrization.set
    w = tensor(rng.standard_normal(case.shape) * 3, "float64")
    back = to_numpy(case.parametrization.forward(case.parametrization.right_inverse(w)))
    projected = to_numpy(s.project(w))
    scale = max(1.0, np.abs(to_numpy(w)).max(), np.abs(projected).max())
    assert np.max(np.abs(back - projected)) <= 2 * MARGIN * scale * case.slack


@pytest.mark.parametrize("start", ["normal", "zeros"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_weight_outside_the_set_starts_where_it_can_still_train(case, start, rng):
    """The free variable of a projected weight is not pushed to where the map is flat:
    the gradient of every output entry with respect to its own free entry is at least
    a tenth of the margin (a one-ulp start would give about 1e-38). Zeros too: Keras's
    default bias, whose scale is nothing."""
    m = case.parametrization
    if start == "zeros" and isinstance(m, P.Orthogonal):
        pytest.skip(
            "Orthogonal starts zeros at [I 0], whose diagonal entries are stationary in "
            "their own direction (the map keeps unit norms); there is no margin to check"
        )
    w = rng.standard_normal(case.shape) * 3 if start == "normal" else np.zeros(case.shape)
    v = to_numpy(m.right_inverse(tensor(w, "float32")))
    assert np.all(np.isfinite(v))
    rows = int(np.prod(case.shape))
    for index in rng.choice(rows, size=min(rows, 6), replace=False):
        probe = np.zeros(rows, "float32")
        probe[index] = 1.0
        probe = probe.reshape(case.shape)
        grad = gradient(
            lambda x, p=probe: keras.ops.sum(m.forward(x) * keras.ops.convert_to_tensor(p)), v
        )
        assert abs(grad.flat[index]) >= 0.1 * MARGIN, (index, grad.flat[index])


@needs_float64
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_finite_differences(case, rng):
    m = case.parametrization
    v = rng.standard_normal(case.shape)
    probe = rng.standard_normal(case.shape)

    def loss(x):
        return keras.ops.sum(m.forward(x) * keras.ops.convert_to_tensor(probe))

    autodiff = gradient(loss, v)
    h = 1e-6
    for _ in range(4):
        direction = rng.standard_normal(case.shape)
        up = float(np.sum(to_numpy(m.forward(v + h * direction)) * probe))
        down = float(np.sum(to_numpy(m.forward(v - h * direction)) * probe))
        numeric = (up - down) / (2 * h)
        assert abs(np.sum(autodiff * direction) - numeric) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_its_gradient_compile_under_xla(case, rng):
    m = case.parametrization
    v = tensor(rng.standard_normal(case.shape), "float32")
    eager = to_numpy(m.forward(v))
    compiled = to_numpy(jit(m.forward)(v))
    assert np.max(np.abs(compiled - eager)) <= 1e-5 * max(1.0, np.abs(eager).max())
    grad = gradient(
        lambda x: keras.ops.sum(keras.ops.square(m.forward(x))), to_numpy(v), compiled=True
    )
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trips_and_registers_under_the_parametrizations_package(case):
    m = case.parametrization
    config = m.get_config()
    assert type(m).from_config(json.loads(json.dumps(config))) == m
    serialized = keras.saving.serialize_keras_object(m)
    assert (
        serialized["registered_name"]
        == f"keras_kernel_constraints.parametrizations>{type(m).__name__}"
    )
    assert keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized))) == m


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: P.Positive(min_value=float("nan")), "`min_value` must be a finite"),
        (lambda: P.Box(1.0, 1.0), "`min_value` must be < `max_value`"),
        (lambda: P.Box(2.0, 1.0), "`min_value` must be <= `max_value`"),
        (lambda: P.Simplex(0.0), "`value` must be a finite number > 0"),
        (lambda: P.Monotone(min_step=-1.0), "`min_step` must be a finite number >= 0"),
        (lambda: P.Monotone(axis=(0, 1)), "`axis` must be one int"),
        (lambda: P.Monotone(min_value=[0.0, 1.0]), "`min_value` must be one number or None"),
        (lambda: P.Sphere(-1.0), "`radius` must be a finite number > 0"),
        (lambda: P.Orthogonal(iterations=0), "`iterations` must be an int >= 1"),
        (lambda: P.SumTo(axis="rows"), "`axis` must be None, an int"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_orthogonal_needs_a_matrix_and_a_float_weight():
    with pytest.raises(ValueError, match=r"Orthogonal needs a matrix.*shape \(5,\)"):
        P.Orthogonal().forward(np.ones(5, "float32"))
    with pytest.raises(ValueError, match="needs a floating-point weight; got dtype int32"):
        P.SumTo(1.0).forward(np.ones((3, 2), "int32"))


@pytest.mark.parametrize("shape", [(16, 16), (64, 16), (96, 96), (3, 3, 16, 32)])
def test_orthogonal_forward_is_the_polar_factor(shape, rng):
    """Distance to scipy's polar factor after the default 16 iterations, in float32,
    for Gaussian matrices (condition numbers up to ~500 for the square ones) and
    for matrices with a prescribed condition number of 1e3."""
    m = P.Orthogonal()
    worst = 0.0
    for trial in range(4):
        a = units(rng.standard_normal(shape))
        if trial == 3:  # condition number 1e3 exactly
            u, _, vt = np.linalg.svd(a, full_matrices=False)
            a = (u * np.geomspace(1.0, 1e-3, len(vt))) @ vt
        wide = a.T if a.shape[0] > a.shape[1] else a
        polar = scipy.linalg.polar(wide.T)[0].T
        expected = polar.T if a.shape[0] > a.shape[1] else polar
        got = units(to_numpy(m.forward(tensor(a.reshape(shape), "float32"))))
        worst = max(worst, float(np.max(np.abs(got - expected))))
    assert worst <= 2e-5, worst


@pytest.mark.parametrize("norm", [1e-3, 1e-1, 5.0, 9.99])
def test_l2_ball_round_trip_is_relative_to_the_weight_not_the_radius(norm, rng):
    """Small weights in a large ball come back to float32 rounding of themselves,
    not of the radius."""
    w = rng.standard_normal((6, 1))
    w *= norm / np.linalg.norm(w)
    m = P.L2Ball(10.0)
    back = to_numpy(m.forward(m.right_inverse(tensor(w, "float32"))))
    np.testing.assert_allclose(back, w, rtol=8 * EPS["float32"], atol=0)
