"""``Set.tangent``: the gradient kept to the set's tangent cone at a point of the set.

The reference is the projection itself: for a polyhedral set (boxes, the
orthant, sum constraints) ``P(w - h g) = w - h t`` exactly once ``h`` is
small enough, and for a smooth manifold (spheres, the Stiefel manifold)
``(w - P(w - h g)) / h`` tends to ``t`` as ``h`` does (error ``O(h)``). So
each case compares ``tangent(w, g)`` with ``(w - P(w - h g)) / h`` at
``h = 1e-6`` in float64.
"""

import keras
import numpy as np
import pytest

from keras_kernel_constraints import sets
from tests.helpers import as_f64, needs_float64, tensor


def _projected(the_set, rng, shape, scale):
    return as_f64(the_set.project(tensor(rng.normal(size=shape) * scale, "float64")))


def _band_points(rng, shape):
    """Groups (columns) on the inner sphere, on the outer one, and inside."""
    w = rng.normal(size=shape)
    w /= np.linalg.norm(w, axis=0)
    return w * np.resize([0.5, 1.0, 0.75], shape[-1])


# name: (set, weight shape, point of the set, polyhedral)
CASES = {
    "NonNegative": (sets.NonNegative(), (5, 4), lambda s, r, sh: _projected(s, r, sh, 1), True),
    "Box": (sets.Box(-0.5, 0.5), (5, 4), lambda s, r, sh: _projected(s, r, sh, 1), True),
    "Box per entry": (
        sets.Box([-0.5, 0.0, -1.0, -np.inf], [0.5, 1.0, 0.0, 0.25]),
        (5, 4),
        lambda s, r, sh: _projected(s, r, sh, 1),
        True,
    ),
    "LinfBall": (sets.LinfBall(0.3), (3, 3, 2), lambda s, r, sh: _projected(s, r, sh, 1), True),
    "SumTo": (sets.SumTo(1.0), (3, 3, 2, 4), lambda s, r, sh: _projected(s, r, sh, 1), True),
    "SumTo rows": (
        sets.SumTo(0.0, axis=-1),
        (6, 5),
        lambda s, r, sh: _projected(s, r, sh, 1),
        True,
    ),
    "Simplex": (sets.Simplex(), (5, 4), lambda s, r, sh: _projected(s, r, sh, 2), True),
    "Simplex vertex": (
        sets.Simplex(2.0, axis=-1),
        (6, 3),
        lambda s, r, sh: _projected(s, r, sh, 50),
        True,
    ),
    # Long groups, most entries at 0: the cone's threshold takes several sweeps.
    "Simplex long groups": (
        sets.Simplex(),
        (96, 5),
        lambda s, r, sh: _projected(s, r, sh, 3),
        True,
    ),
    "CappedSimplex": (
        sets.CappedSimplex(1.0, 0.0, 0.4),
        (5, 4),
        lambda s, r, sh: _projected(s, r, sh, 2),
        True,
    ),
    "CappedSimplex per entry": (
        sets.CappedSimplex(0.5, [-0.5, 0.0, -1.0, 0.0, 0.1], [0.5, 0.3, 1.0, 0.2, 0.1], axis=-1),
        (4, 5),
        lambda s, r, sh: _projected(s, r, sh, 2),
        True,
    ),
    # Projected points pool neighbours into tied runs: the cone keeps their order.
    "Monotone": (sets.Monotone(), (8, 5), lambda s, r, sh: _projected(s, r, sh, 1), True),
    "Monotone decreasing within bounds": (
        sets.Monotone(False, min_value=-0.4, max_value=0.3, axis=-1),
        (5, 9),
        lambda s, r, sh: _projected(s, r, sh, 1),
        True,
    ),
    "Monotone steps within bounds": (
        sets.Monotone(min_value=-1.0, max_value=1.0, min_step=0.1),
        (10, 4),
        lambda s, r, sh: _projected(s, r, sh, 1),
        True,
    ),
    "Monotone per entry": (
        sets.Monotone(min_value=[[-0.5], [-0.2], [0.0], [-np.inf], [0.1], [0.1]], max_value=0.6),
        (6, 3),
        lambda s, r, sh: _projected(s, r, sh, 1),
        True,
    ),
    "L2Ball": (
        sets.L2Ball(1.0),
        (6, 4),
        lambda s, r, sh: _projected(s, r, sh, 1) * np.resize([1.0, 0.3], sh[-1]),
        False,
    ),
    "Sphere": (sets.Sphere(2.0, axis=-1), (4, 6), lambda s, r, sh: _projected(s, r, sh, 1), False),
    "NormBand": (sets.NormBand(0.5, 1.0), (6, 6), lambda s, r, sh: _band_points(r, sh), False),
    "Orthogonal tall": (sets.Orthogonal(), (7, 3), lambda s, r, sh: _projected(s, r, sh, 1), False),
    "Orthogonal wide": (sets.Orthogonal(), (3, 7), lambda s, r, sh: _projected(s, r, sh, 1), False),
    "Orthogonal per tap": (
        sets.Orthogonal(batch_axis=0),
        (3, 5, 4),
        lambda s, r, sh: _projected(s, r, sh, 1),
        False,
    ),
}


def _reference(the_set, w, g, h=1e-6):
    return (w - as_f64(the_set.project(tensor(w - h * g, "float64")))) / h


@needs_float64
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_tangent_is_the_limit_of_projected_steps(name, rng):
    the_set, shape, point, polyhedral = CASES[name]
    assert the_set.has_tangent
    for _ in range(5):
        w = point(the_set, rng, shape)
        g = rng.normal(size=shape)
        t = as_f64(the_set.tangent(tensor(w, "float64"), tensor(g, "float64")))
        error = np.abs(t - _reference(the_set, w, g)).max() / np.abs(g).max()
        # Polyhedral: exact once h is small, up to the rounding of (w - P) / h.
        assert error <= (1e-8 if polyhedral else 1e-5), error


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=needs_float64)])
def test_at_a_bound_an_inward_gradient_is_kept_and_an_outward_one_removed(dtype):
    w = np.array([0.0, 0.0, 0.5, -1.0, 2.0, 2.0], dtype)
    # A descent step -g: g < 0 raises the entry, g > 0 lowers it.
    g = np.array([-1.0, 1.0, 3.0, 1.0, -1.0, 1.0], dtype)
    box = as_f64(sets.Box(0.0, 2.0).tangent(tensor(w.clip(0, 2), dtype), tensor(g, dtype)))
    np.testing.assert_array_equal(box, [-1.0, 0.0, 3.0, 0.0, 0.0, 1.0])
    orthant = as_f64(sets.NonNegative().tangent(tensor(w.clip(0), dtype), tensor(g, dtype)))
    np.testing.assert_array_equal(orthant, [-1.0, 0.0, 3.0, 0.0, -1.0, 1.0])


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=needs_float64)])
def test_on_a_sphere_the_tangent_is_orthogonal_to_the_point(dtype, rng):
    sphere = sets.Sphere(3.0, axis=-1)
    w = sphere.project(tensor(rng.normal(size=(8, 16)), dtype))
    g = tensor(rng.normal(size=(8, 16)) * 10, dtype)
    t = as_f64(sphere.tangent(w, g))
    w64 = as_f64(w)
    cosine = np.abs(np.sum(t * w64, axis=-1)) / (
        np.linalg.norm(t, axis=-1) * np.linalg.norm(w64, axis=-1)
    )
    assert cosine.max() <= 8 * np.finfo(dtype).eps, cosine.max()


@needs_float64
def test_on_the_stiefel_manifold_w_transpose_t_is_skew(rng):
    stiefel = sets.Orthogonal()
    w = as_f64(stiefel.project(tensor(rng.normal(size=(9, 4)), "float64")))
    t = as_f64(stiefel.tangent(tensor(w, "float64"), tensor(rng.normal(size=(9, 4)), "float64")))
    product = w.T @ t
    np.testing.assert_allclose(product + product.T, 0.0, atol=1e-13)


def test_a_tangent_keeps_the_gradients_dtype_and_computes_half_precision_in_float32(rng):
    w = tensor(np.array([0.0, 1.0, 2.0]), "float16")
    g = tensor(np.array([1.0, 1.0, -1.0]), "float16")
    t = sets.Box(0.0, 2.0).tangent(w, g)
    assert keras.backend.standardize_dtype(t.dtype) == "float16"
    np.testing.assert_array_equal(as_f64(t), [0.0, 1.0, 0.0])


@pytest.mark.parametrize(
    "the_set",
    [sets.L1Ball(), sets.Unimodal(), sets.Convex(), sets.PSD()],
    ids=lambda s: type(s).__name__,
)
def test_a_set_without_a_map_returns_the_gradient_as_it_is(the_set, rng):
    assert not the_set.has_tangent
    shape = (4, 4)
    w = the_set.project(tensor(rng.normal(size=shape), "float32"))
    g = tensor(rng.normal(size=shape), "float32")
    np.testing.assert_array_equal(as_f64(the_set.tangent(w, g)), as_f64(g))


def test_monotone_slices_past_the_window_budget_keep_the_plain_gradient(rng):
    # 257 x 256 slices of 257 entries: 257^2 * 256 windows, just over 2^24.
    monotone = sets.Monotone()
    # Sorted columns with tied neighbours: a point of the set where the map would act.
    w = np.sort(np.round(rng.normal(size=(257, 256)), 1), axis=0)
    g = rng.normal(size=(257, 256))
    past = monotone.tangent(tensor(w, "float32"), tensor(g, "float32"))
    np.testing.assert_array_equal(as_f64(past), g.astype("float32"))
    within = monotone.tangent(tensor(w[:16, :8], "float32"), tensor(g[:16, :8], "float32"))
    assert np.abs(as_f64(within) - g[:16, :8].astype("float32")).max() > 0.1


def test_a_gradient_of_another_shape_is_refused():
    with pytest.raises(ValueError, match=r"Box: the gradient's shape \(3,\) differs"):
        sets.Box(0.0, 1.0).tangent(np.zeros((2,), "float32"), np.zeros((3,), "float32"))
