"""Exactness of the l2 ball, sphere, norm band and l-infinity ball projections.

Tolerance: ``| ||P(w)_g|| - target | <= 3 * eps * target``: groups within
``2 * eps`` of the band count as on the set and are returned unchanged (so a
second projection changes nothing, bit for bit), plus the rounding of the
norm itself.
"""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.projections import (
    project_l2_ball,
    project_l2_sphere,
    project_linf_ball,
    project_norm_band,
)
from tests.helpers import EPS, FLOAT_DTYPES, as_f64, tensor, to_numpy


def reference_band(x, lo, hi, axes):
    norm = np.sqrt(np.sum(x**2, axis=axes, keepdims=True))
    return x * np.clip(norm, lo, hi) / norm


def norms(p, axes):
    return np.sqrt(np.sum(p**2, axis=axes))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "fn, args, lo, hi",
    [
        (project_l2_ball, (0.7,), 0.0, 0.7),
        (project_l2_sphere, (1.5,), 1.5, 1.5),
        (project_norm_band, (1.0, 2.0), 1.0, 2.0),
    ],
    ids=["ball", "sphere", "band"],
)
@pytest.mark.parametrize(
    "shape, axis, axes",
    [((3, 3, 2, 4), None, (0, 1, 2)), ((5, 6), -1, (1,)), ((8,), None, (0,))],
)
def test_radial_projections_match_reference(dtype, fn, args, lo, hi, shape, axis, axes, rng):
    x = rng.normal(size=shape) * rng.choice([0.1, 1.0, 5.0], size=shape[-1:])
    w = tensor(x, dtype)
    out = fn(w, *args, axis=axis)
    assert keras.backend.standardize_dtype(out.dtype) == dtype and tuple(out.shape) == shape
    ref = reference_band(as_f64(w), lo, hi, axes)
    np.testing.assert_allclose(as_f64(out), ref, rtol=0, atol=4 * EPS[dtype] * max(hi, 1.0))
    n = norms(as_f64(out), axes)
    assert np.all(n >= lo * (1 - 3 * EPS[dtype])) and np.all(n <= hi * (1 + 3 * EPS[dtype]))


def test_groups_inside_are_unchanged_and_outside_land_on_the_boundary(rng):
    x = rng.normal(size=(6, 10)).astype("float32")
    x *= np.linspace(0.05, 3.0, 10, dtype="float32") / np.linalg.norm(x, axis=0)
    out = to_numpy(project_l2_ball(x, 1.0))
    inside = np.linalg.norm(x, axis=0) <= 1.0
    np.testing.assert_array_equal(out[:, inside], x[:, inside])
    np.testing.assert_allclose(np.linalg.norm(out[:, ~inside], axis=0), 1.0, rtol=2e-7)
    band = to_numpy(project_norm_band(x, 0.5, 2.0))
    in_band = (np.linalg.norm(x, axis=0) >= 0.5) & (np.linalg.norm(x, axis=0) <= 2.0)
    np.testing.assert_array_equal(band[:, in_band], x[:, in_band])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_radial_projections_are_idempotent(dtype, rng):
    w = tensor(3 * rng.normal(size=(7, 5)), dtype)
    for fn, args in (
        (project_l2_ball, (1.0,)),
        (project_l2_sphere, (2.0,)),
        (project_norm_band, (0.5, 1.0)),
    ):
        once = fn(w, *args)  # lands within 2 eps of the band, so is left alone
        np.testing.assert_array_equal(as_f64(fn(once, *args)), as_f64(once))


def test_ball_is_non_expansive_and_sphere_is_outside_the_ball(rng):
    for _ in range(30):
        x, y = 2 * rng.normal(size=(2, 6, 5))
        px, py = as_f64(project_l2_ball(x, 1.0)), as_f64(project_l2_ball(y, 1.0))
        assert np.all(np.linalg.norm(px - py, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)
        # The sphere is not convex, so its projection is non-expansive only
        # for points outside the ball, where it coincides with the ball's.
        x = x / np.linalg.norm(x, axis=0) * (1 + rng.random(5))
        y = y / np.linalg.norm(y, axis=0) * (1 + rng.random(5))
        sx, sy = as_f64(project_l2_sphere(x, 1.0)), as_f64(project_l2_sphere(y, 1.0))
        assert np.all(np.linalg.norm(sx - sy, axis=0) <= np.linalg.norm(x - y, axis=0) + 1e-12)


def test_zero_groups_map_to_a_documented_point():
    zeros = np.zeros((3, 2, 2), "float32")
    sphere = to_numpy(project_l2_sphere(zeros, 2.0, axis=(0, 1)))
    expected = np.zeros((3, 2, 2), "float32")
    expected[0, 0, :] = 2.0  # index 0 of every group axis, for each of the 2 groups
    np.testing.assert_array_equal(sphere, expected)
    band = to_numpy(project_norm_band(zeros, 0.5, 1.0, axis=(0, 1)))
    np.testing.assert_array_equal(band, expected / 4)
    np.testing.assert_array_equal(to_numpy(project_l2_ball(zeros, 1.0)), zeros)
    np.testing.assert_array_equal(to_numpy(project_l2_sphere(np.float32(0.0), 3.0)), 3.0)


def test_tiny_and_huge_groups_are_exact_and_finite():
    tiny = np.full((4,), 1e-30, "float32")  # squares underflow to 0 in float32
    np.testing.assert_allclose(to_numpy(project_l2_sphere(tiny, 1.0)), 0.5, rtol=1e-6)
    huge = np.full((4,), 3e38, "float32")  # squares overflow
    np.testing.assert_allclose(to_numpy(project_l2_ball(huge, 1.0)), 0.5, rtol=1e-6)
    half = np.full((4,), 60000, "float16")
    np.testing.assert_allclose(as_f64(project_l2_sphere(half, 1.0)), 0.5, rtol=1e-3)


def test_nan_stays_in_its_group():
    w = np.array([[np.nan, 3.0], [0.0, 4.0]], "float32")
    for fn in (project_l2_ball, project_l2_sphere):
        out = to_numpy(fn(w, 1.0))
        np.testing.assert_allclose(out[:, 1], [0.6, 0.8], rtol=1e-6)
        assert np.all(np.isnan(out[:, 0]))  # a diverged group is not hidden


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_linf_ball_is_exact(dtype, rng):
    w = tensor(3 * rng.normal(size=(5, 4)), dtype)
    out = project_linf_ball(w, 1.5)
    np.testing.assert_array_equal(as_f64(out), np.clip(as_f64(w), -1.5, 1.5))
    np.testing.assert_array_equal(to_numpy(project_linf_ball(out, 1.5)), to_numpy(out))
