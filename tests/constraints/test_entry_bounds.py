"""Per-entry bounds of ``Box`` (with ``BoxPenalty`` and ``project_box``),
``CappedSimplex`` and ``Monotone``, per-group targets of ``SumTo``: exact
projections, first-use shape and feasibility errors, configs as nested
lists, a fresh process."""

import json
import re

import cvxpy as cp
import keras
import numpy as np
import pytest
from scipy.optimize import brentq

from keras_kernel_constraints import regularizers, sets
from keras_kernel_constraints.constraints import Box, CappedSimplex, Intersect, Monotone, SumTo
from keras_kernel_constraints.projections import (
    project_box,
    project_capped_simplex,
    project_monotone,
)
from tests.helpers import (
    EPS,
    FLOAT_DTYPES,
    applied,
    as_f64,
    needs_float64,
    np_dtype,
    run_python,
    tensor,
    to_numpy,
)
from tests.specs.monotone import bounded_pav, entry_reference

KERNEL = (3, 3, 2, 4)  # a Conv2D kernel: taps, input channels, output channels


def rounded(bound, dtype):
    """A bound as the weight's dtype represents it (the library rounds bounds so)."""
    return np.asarray(bound, np.float64).astype(np_dtype(dtype)).astype(np.float64)


@pytest.mark.parametrize(
    "bound_shape",
    [(4,), (2, 1), (3, 3, 1, 1), (1, 4), KERNEL],
    ids=["per unit", "per input", "per tap", "leading 1", "per entry"],
)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_per_entry_bounds_clip_each_entry_to_its_own_interval(bound_shape, dtype, rng):
    low = rng.uniform(-1.0, 0.5, size=bound_shape)
    high = low + rng.uniform(0.0, 1.0, size=bound_shape)
    high[rng.random(bound_shape) < 0.25] = np.inf  # open above at some entries
    box = Box(low.tolist(), high.tolist())
    w = tensor(2 * rng.normal(size=KERNEL), dtype)

    out = box(w)

    assert keras.backend.standardize_dtype(out.dtype) == dtype
    expected = np.clip(as_f64(w), rounded(low, dtype), rounded(high, dtype))
    np.testing.assert_array_equal(as_f64(out), expected)
    np.testing.assert_array_equal(to_numpy(box(out)), to_numpy(out))  # idempotent
    assert np.any(as_f64(out) == np.broadcast_to(rounded(low, dtype), KERNEL))  # they acted


def test_a_scalar_and_an_array_mix_and_open_entries_stay_open():
    box = Box(0.0, [1.0, np.inf, 2.0])
    out = to_numpy(box(np.array([[-5.0, 50.0, 5.0]], "float32")))
    np.testing.assert_array_equal(out, [[0.0, 50.0, 2.0]])
    assert Box([-np.inf, -np.inf], 1.0).min_value is None  # every entry open: no bound


@pytest.mark.parametrize("name", ["min_value", "max_value"])
@pytest.mark.parametrize(
    "bound_shape",
    [(3,), (5, 4), (2, 3, 3, 2, 4), (3, 1, 1, 1, 1)],
    ids=["wrong units", "wrong inputs", "one axis more", "rank too high"],
)
def test_a_bound_that_does_not_fit_raises_naming_it_and_both_shapes(name, bound_shape):
    bound = np.zeros(bound_shape).tolist()
    box = Box(**{name: bound})  # the shape is checked on first use, when it is known
    pattern = re.escape(f"Box: `{name}` has shape {tuple(bound_shape)}, which does not ") + (
        r".*" + re.escape("weight's shape (3, 3, 2, 4)")
    )
    with pytest.raises(ValueError, match=pattern):
        box(np.zeros(KERNEL, "float32"))
    with pytest.raises(ValueError, match=rf"project_box: `{name}` has shape"):
        project_box(np.zeros(KERNEL, "float32"), **{name: np.asarray(bound)})
    with pytest.raises(ValueError, match=rf"`{name}` has shape"):
        regularizers.BoxPenalty(**{name: bound}, strength=1.0)(np.zeros(KERNEL, "float32"))


def test_a_layer_whose_kernel_does_not_fit_its_bounds_fails_on_first_use():
    layer = keras.layers.Dense(3, kernel_constraint=Box([0.0, 0.0], 1.0))
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"`min_value` has shape \(2,\).*\(4, 3\)"):
        model.fit(np.ones((8, 4)), np.ones((8, 3)), epochs=1, verbose=0)


def test_the_config_holds_nested_lists_and_round_trips_through_json():
    box = Box([[0.0, -1.0]], [[1.0, np.inf]])
    config = box.get_config()
    assert config == {"min_value": [[0.0, -1.0]], "max_value": [[1.0, np.inf]]}
    restored = Box.from_config(json.loads(json.dumps(config)))
    assert restored == box and hash(restored) == hash(box)
    serialized = keras.saving.serialize_keras_object(box)
    assert keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized))) == box
    assert Box(np.array([0.0, 1.0]), 2.0) == Box([0.0, 1.0], 2.0)  # NumPy arrays become lists
    assert Box(np.array(0.5), 1.0).min_value == 0.5  # a rank-0 array is a number
    assert box.penalty(0.1) == regularizers.BoxPenalty(
        [[0.0, -1.0]], [[1.0, np.inf]], strength=0.1, power=1
    )


def test_the_penalty_measures_each_entry_against_its_own_interval():
    penalty = regularizers.BoxPenalty([0.0, -1.0], [1.0, np.inf], strength=1.0)
    value = float(penalty(np.array([[2.0, 2.0], [-2.0, -2.0]], "float32")))
    assert value == pytest.approx(1.0 + 0.0 + 2.0 + 1.0)


@needs_float64
def test_sum_to_within_per_entry_bounds_matches_the_exact_shift(rng):
    # {sum = 1, lo <= x <= hi} per column: x = clip(y - t, lo, hi), t the root of
    # sum(x) = 1 (Dykstra's pieces here: a per-entry box and a sum hyperplane).
    low = rng.uniform(-1.0, 0.0, size=(6, 1))
    high = rng.uniform(0.3, 1.0, size=(6, 1))  # sum(low) < 1 < sum(high): not empty
    the_set = Intersect(SumTo(1.0, axis=0), Box(low.tolist(), high.tolist()))
    for _ in range(20):
        y = 2 * rng.normal(size=(6, 3))
        out = as_f64(the_set(y))
        for j in range(3):
            column = y[:, j]
            t = brentq(
                lambda t, c=column: np.clip(c - t, low[:, 0], high[:, 0]).sum() - 1.0,
                -50.0,
                50.0,
                xtol=1e-15,
            )
            np.testing.assert_allclose(
                out[:, j], np.clip(column - t, low[:, 0], high[:, 0]), atol=1e-9
            )
        assert float(the_set.residual(out)) <= 1e-9


@needs_float64
def test_a_capped_simplex_with_per_entry_bounds_is_the_solvers_projection(rng):
    worst = 0.0
    for _ in range(100):
        n = int(rng.integers(2, 9))
        low = rng.uniform(-1.0, 0.5, size=n)
        high = low + rng.uniform(0.0, 1.5, size=n)
        value = float(low.sum() + rng.uniform() * (high.sum() - low.sum()))
        y = 2 * rng.normal(size=n)
        out = as_f64(project_capped_simplex(y, value, low.tolist(), high.tolist(), axis=0))
        x = cp.Variable(n)
        cp.Problem(
            cp.Minimize(cp.sum_squares(x - y)), [cp.sum(x) == value, x >= low, x <= high]
        ).solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        worst = max(worst, float(np.abs(out - x.value).max()))
        assert np.all(out >= low) and np.all(out <= high)
        assert abs(out.sum() - value) <= 8 * n * np.finfo(np.float64).eps * (1 + np.abs(y).max())
    assert worst <= 1e-7  # Clarabel's accuracy; the spec's bisection reference is exact


def test_a_capped_simplex_whose_group_cannot_reach_its_sum_raises_naming_it():
    the_set = CappedSimplex(1.0, 0.0, [[0.2, 0.2], [0.6, 0.6]], axis=0)  # columns of 2
    with pytest.raises(ValueError, match=r"the group at \[0\] cannot sum to `value`=1.0"):
        the_set(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match=r"`max_value` has shape \(2, 2\).*\(3, 2\)"):
        the_set(np.zeros((3, 2), "float32"))
    with pytest.raises(ValueError, match="`min_value` must be finite at every entry"):
        CappedSimplex(1.0, [0.0, -np.inf], 1.0)


def monotone_instance(rng, n):
    """A row, and per-entry bounds around an ordered point (some entries open)."""
    center = np.cumsum(rng.uniform(0.0, 1.0, size=n)) - n / 2
    low = center - rng.uniform(0.0, 1.5, size=n)
    high = center + rng.uniform(0.0, 1.5, size=n)
    low[rng.random(n) < 0.25] = -np.inf
    high[rng.random(n) < 0.25] = np.inf
    return 2 * rng.normal(size=n) * rng.uniform(0.2, 3.0), low, high


def test_monotone_bounds_are_not_a_clip_of_the_isotonic_fit():
    # Clipping the isotonic fit [1, 1] to max_value [0, 10] gives [0, 1] (cost 5);
    # the projection pools both entries at the first one's bound: [0, 0] (cost 4).
    out = to_numpy(project_monotone(np.array([2.0, 0.0]), max_value=[0.0, 10.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0])


@needs_float64
def test_monotone_with_per_entry_bounds_is_the_solvers_projection(rng):
    """200 rows of 2 to 12 entries against a QP solver, and against sequential
    bounded pool-adjacent-violators (the spec's reference) to rounding."""
    worst_solver = worst_pav = 0.0
    for _ in range(200):
        n = int(rng.integers(2, 13))
        y, low, high = monotone_instance(rng, n)
        out = as_f64(project_monotone(y, min_value=low.tolist(), max_value=high.tolist()))
        x = cp.Variable(n)
        finite = [x[i] >= low[i] for i in range(n) if np.isfinite(low[i])]
        finite += [x[i] <= high[i] for i in range(n) if np.isfinite(high[i])]
        cp.Problem(cp.Minimize(cp.sum_squares(x - y)), [cp.diff(x) >= 0, *finite]).solve(
            solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
        )
        scale = max(1.0, float(np.abs(y).max()))
        worst_solver = max(worst_solver, float(np.abs(out - x.value).max()) / scale)
        worst_pav = max(worst_pav, float(np.abs(out - bounded_pav(y, low, high)).max()) / scale)
        assert np.all(np.diff(out) >= 0) and np.all(out >= low) and np.all(out <= high)
    assert worst_solver <= 1e-7  # Clarabel's accuracy
    assert worst_pav <= 64 * np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=needs_float64)])
@pytest.mark.parametrize("increasing", [True, False], ids=["increasing", "decreasing"])
@pytest.mark.parametrize("min_step", [0.0, 0.25])
def test_monotone_per_entry_bounds_on_a_kernel_slice_by_slice(dtype, increasing, min_step, rng):
    """A Conv1D kernel (taps, in, out) ordered along its taps, one interval per
    tap and output unit; every slice against the reference, feasible, idempotent."""
    taps, shape = 7, (7, 3, 4)
    center = np.cumsum(rng.uniform(min_step, min_step + 1.0, size=(taps, 1, 4)), axis=0)
    center = center if increasing else center[::-1]
    low = center - rng.uniform(0.0, 1.0, size=(taps, 1, 4))
    high = center + rng.uniform(0.0, 1.0, size=(taps, 1, 4))
    params = {
        "increasing": increasing,
        "min_value": low.tolist(),
        "max_value": high.tolist(),
        "min_step": min_step,
        "axis": 0,
    }
    monotone = Monotone.from_config(params)
    y = 3 * rng.normal(size=shape)
    out = as_f64(applied(monotone)(tensor(y, dtype)))
    w = tensor(y, dtype)
    lo, hi = rounded(low, dtype), rounded(high, dtype)
    expected = entry_reference(
        {**params, "min_value": lo.tolist(), "max_value": hi.tolist()}, as_f64(w)
    )
    scale = max(1.0, float(np.abs(y).max()))
    np.testing.assert_allclose(out, expected, rtol=0, atol=8 * taps * EPS[dtype] * scale)
    assert np.all(out >= np.broadcast_to(lo, shape)) and np.all(out <= np.broadcast_to(hi, shape))
    steps = np.diff(out, axis=0) * (1 if increasing else -1)
    assert steps.min() >= min_step - 8 * EPS[dtype] * scale
    np.testing.assert_array_equal(to_numpy(monotone(tensor(out, dtype))), out.astype(dtype))


def test_monotone_feasible_slices_come_back_bit_for_bit(rng):
    w = np.sort(rng.normal(size=(5, 8)), axis=-1).astype("float32")
    monotone = Monotone(
        min_value=(w.min(axis=0) - 0.1).tolist(), max_value=(w.max(axis=0) + 0.1).tolist(), axis=-1
    )
    np.testing.assert_array_equal(to_numpy(monotone(w)), w)


def test_monotone_bounds_that_leave_no_ordered_point_raise_naming_the_slice():
    # Column 1 must rise from at least 2 to at most 1: no non-decreasing point.
    monotone = Monotone(min_value=[[0.0, 2.0], [0.0, 0.0]], max_value=[[1.0, 3.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=re.escape("Monotone: the slice at [1]")) as error:
        monotone(np.zeros((2, 2), "float32"))
    assert "at least 2.0" in str(error.value) and "at most 1.0" in str(error.value)
    with pytest.raises(ValueError, match=r"with steps of at least 0\.5"):
        Monotone(min_value=[0.0, 0.0, 0.0], max_value=[1.0, 1.0, 0.5], min_step=0.5, axis=-1)(
            np.zeros((1, 3), "float32")
        )
    Monotone(False, min_value=[[2.0], [0.0]], max_value=[[3.0], [1.0]])(np.zeros((2, 2), "float32"))


def test_monotone_bounds_of_the_wrong_shape_or_too_long_slices_raise():
    with pytest.raises(ValueError, match=r"Monotone: `max_value` has shape \(5,\).*\(7, 3, 4\)"):
        Monotone(max_value=np.ones(5).tolist())(np.zeros((7, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"project_monotone: `min_value` has shape \(2, 1\)"):
        project_monotone(np.zeros((3, 4), "float32"), min_value=np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"O\(n\^2\) memory.*Intersect\(Monotone"):
        Monotone(min_value=np.zeros(600).tolist(), axis=-1)(np.zeros((50, 600), "float32"))


def test_monotone_per_entry_bounds_serialize_and_keep_intersections_general():
    monotone = Monotone(min_value=[0.0, -np.inf, 0.5], max_value=1.0, axis=-1)
    config = monotone.get_config()
    assert config["min_value"] == [0.0, -np.inf, 0.5] and config["max_value"] == 1.0
    restored = Monotone.from_config(json.loads(json.dumps(config)))
    assert restored == monotone and hash(restored) == hash(monotone) and restored.per_entry
    assert isinstance(monotone.penalty(0.1), regularizers.DistancePenalty)
    # No closed-form rule joins per-entry bounds: Dykstra, and the result is in both sets.
    both = sets.Intersect(
        sets.Monotone(min_value=[0.0, 0.0, 0.5], axis=-1), sets.SumTo(2.0, axis=-1)
    )
    out = as_f64(both.project(np.array([[3.0, -1.0, 0.0]], "float32")))
    assert np.all(np.diff(out) >= -1e-5) and np.all(out >= [0.0, 0.0, 0.5 - 1e-5])
    assert abs(out.sum() - 2.0) <= 1e-5


@pytest.mark.parametrize(
    "axis, target_shape",
    [(None, (4,)), ((0, 1), (2, 4)), ((0, 1), (2, 1)), (-1, (3, 3, 2, 1)), (-1, (2, 1))],
)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_per_group_targets_shift_each_group_to_its_own_sum(axis, target_shape, dtype, rng):
    w = tensor(3 * rng.normal(size=KERNEL), dtype)
    target = rng.uniform(-5.0, 5.0, size=target_shape)
    the_set = SumTo(target.tolist(), axis=axis)
    axes = (0, 1, 2) if axis is None else ((0, 1) if axis == (0, 1) else (3,))
    n = int(np.prod([KERNEL[a] for a in axes]))

    out = as_f64(the_set(w))

    x = as_f64(w)
    expected = x + (target - x.sum(axis=axes, keepdims=True)) / n
    scale = max(1.0, float(np.abs(x).max()), float(np.abs(target).max()))
    tolerance = n * EPS[dtype] * scale
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)
    np.testing.assert_allclose(out.sum(axis=axes, keepdims=True) - target, 0.0, atol=n * tolerance)


def test_per_group_targets_that_do_not_fit_raise_naming_both_shapes():
    the_set = SumTo([1.0, 2.0, 3.0], axis=(0, 1))
    message = re.escape(
        "SumTo: `value` has shape (3,), which does not broadcast to the shape of the group "
        "sums (1, 1, 2, 4) (the weight's shape (3, 3, 2, 4)"
    )
    with pytest.raises(ValueError, match=message):
        the_set(np.zeros(KERNEL, "float32"))
    with pytest.raises(ValueError, match=r"SumToPenalty: `value` has shape \(3,\)"):
        regularizers.SumToPenalty([1.0, 2.0, 3.0], axis=(0, 1))(np.zeros(KERNEL, "float32"))
    with pytest.raises(ValueError, match="`value` must be finite at every entry"):
        SumTo([1.0, np.inf])
    config = SumTo([[1.0], [2.0]], axis=(0, 1)).get_config()
    assert config == {"value": [[1.0], [2.0]], "axis": [0, 1]}
    assert SumTo.from_config(json.loads(json.dumps(config))) == SumTo([[1.0], [2.0]], axis=(0, 1))
    penalty = regularizers.SumToPenalty([1.0, 0.0], strength=1.0)
    assert float(penalty(np.ones((2, 2), "float32"))) == pytest.approx(1.0 + 4.0)


LOADER = r"""
import json, sys
import numpy as np
import keras
import keras_kernel_constraints

path, x_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
model = keras.saving.load_model(path, safe_mode=True)
x = np.load(x_path)
report = {
    "prediction": model.predict(x, verbose=0).tolist(),
    "configs": {
        name: keras.saving.serialize_keras_object(model.get_layer(name).kernel_constraint)
        for name in ("conv", "dense", "summed", "capped")
    },
    "penalty": keras.saving.serialize_keras_object(model.get_layer("conv").kernel_regularizer),
}
model.compile(keras.optimizers.Adam(0.1), "mse", jit_compile=keras.backend.backend() != "torch")
model.fit(x, 10 * np.ones((len(x), 2), "float32"), epochs=3, verbose=0)
names = ("conv", "dense", "summed", "capped")
np.savez(out, **{name: model.get_layer(name).kernel.numpy() for name in names})
print(json.dumps(report))
"""


@pytest.mark.slow
def test_per_entry_bounds_load_in_a_fresh_process_and_keep_acting(tmp_path, rng):
    tap_low = [[[[-0.1]], [[-0.2]], [[-0.1]]]] * 3  # (3, 3, 1, 1): one interval per tap
    tap_high = np.full((3, 3, 1, 1), 0.05)
    tap_high[1, 1] = np.inf  # the centre tap is free above
    unit_low, unit_high = [-0.05, 0.0, 0.05], [0.05, 0.1, 0.15]  # one per output unit
    conv_box = Box(tap_low, tap_high.tolist())
    summed = SumTo([1.0, 0.0, -1.0])  # the three units' kernels sum to 1, 0 and -1
    # Each column of the last (3, 2) kernel sums to 1, its first input's weight in [0.5, 0.6].
    capped = CappedSimplex(1.0, [[0.5], [-1.0], [-1.0]], [[0.6], [1.0], [1.0]], axis=0)
    dense_box = Box(unit_low, unit_high)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(
                4,
                3,
                name="conv",
                kernel_constraint=conv_box,
                kernel_regularizer=conv_box.penalty(0.01),
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="dense", kernel_constraint=dense_box),
            keras.layers.Dense(3, name="summed", kernel_constraint=summed),
            keras.layers.Dense(2, name="capped", kernel_constraint=capped),
        ]
    )
    x = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    model.save(tmp_path / "bounded.keras")

    report = json.loads(
        run_python(
            LOADER, str(tmp_path / "bounded.keras"), str(tmp_path / "x.npy"), str(tmp_path / "w")
        )
    )

    np.testing.assert_array_equal(report["prediction"], model.predict(x, verbose=0))
    assert keras.saving.deserialize_keras_object(report["configs"]["conv"]) == conv_box
    assert keras.saving.deserialize_keras_object(report["configs"]["dense"]) == dense_box
    assert keras.saving.deserialize_keras_object(report["configs"]["capped"]) == capped
    assert keras.saving.deserialize_keras_object(report["configs"]["summed"]) == summed
    assert keras.saving.deserialize_keras_object(report["penalty"]) == conv_box.penalty(0.01)
    trained = np.load(tmp_path / "w.npz")
    conv, dense = trained["conv"].astype(np.float64), trained["dense"].astype(np.float64)
    f32 = lambda b: rounded(b, "float32")  # noqa: E731
    assert np.all(conv >= f32(tap_low)) and np.all(conv <= f32(tap_high))
    assert np.all(dense >= f32(unit_low)) and np.all(dense <= f32(unit_high))
    assert np.any(dense == f32(unit_high)) and conv[1, 1].max() > 0.05  # bounds acted; centre free
    unit_sums = trained["summed"].astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(unit_sums, [1.0, 0.0, -1.0], atol=8 * np.finfo(np.float32).eps)
    column_sums = trained["capped"].astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(column_sums, 1.0, atol=3 * np.finfo(np.float32).eps)
    first = trained["capped"][0].astype(np.float64)
    assert np.all(first >= f32(0.5)) and np.all(first <= f32(0.6))
