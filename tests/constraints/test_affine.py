"""Constraint classes: validation, first-use errors, configs, lookup, companions."""

import numpy as np
import pytest

from keras_kernel_constraints import constraints, regularizers
from keras_kernel_constraints.constraints import Box, NonNeg, SumTo


def test_lookup_by_name_alias_class_and_instance():
    assert constraints.get(None) is None
    assert constraints.get("SumTo") == SumTo() == constraints.get("sum_to")
    assert constraints.get("non_neg") == NonNeg()
    with pytest.warns(DeprecationWarning, match=r"Box\(\) without bounds means \[0, 1\]"):
        assert constraints.get(Box) == Box(0.0, 1.0)
    instance = SumTo(3.0)
    assert constraints.get(instance) is instance
    assert constraints.sum_to is SumTo and constraints.non_neg is NonNeg and constraints.box is Box
    with pytest.raises(ValueError, match="Unknown constraint name 'sum_to_one'"):
        constraints.get("sum_to_one")
    with pytest.raises(ValueError, match="Could not interpret"):
        constraints.get(42)


def test_companion_penalties():
    assert NonNeg().penalty(0.5) == regularizers.NonNegPenalty(strength=0.5, power=1)
    assert Box(-1, 1).penalty(2.0, power=2) == regularizers.BoxPenalty(
        -1.0, 1.0, strength=2.0, power=2
    )
    assert SumTo(1.0, axis=(0, 1)).penalty(0.1) == regularizers.SumToPenalty(
        1.0, axis=[0, 1], strength=0.1, power=2
    )


def test_repr_reads_like_the_constructor():
    assert repr(SumTo(1.0, axis=(0, 1))) == "SumTo(value=1.0, axis=[0, 1])"
    assert repr(Box(0, 1)) == "Box(min_value=0.0, max_value=1.0)"


def test_hyperparameters_are_plain_python_numbers():
    box = Box(np.float32(-1), np.int64(2))
    assert type(box.min_value) is float and type(box.max_value) is float
    assert SumTo(axis=np.int64(1)).get_config() == {"value": 1.0, "axis": 1}


# -- bad arguments at construction: ValueError naming the parameter ----------


# -- bad weights on first use: clear ValueError, not a backend error ----------


@pytest.mark.parametrize(
    "axis, shape",
    [(2, (3, 4)), (-3, (3, 4)), ((0, 5), (3, 3, 2, 4)), ((0, -2), (3, 4)), (0, ())],
)
def test_axis_that_does_not_fit_the_weight_raises_on_first_use(axis, shape):
    constraint = SumTo(1.0, axis=axis)
    with pytest.raises(ValueError, match=r"SumTo: `axis`=.*(out of range|same axis)"):
        constraint(np.zeros(shape, "float32"))


def test_one_sided_boxes_say_at_least_and_at_most():
    # Issue 14: Box(1e-3, inf) was rejected, and Box(max_value=5) silently
    # added a lower bound of 0: a variance with NonNeg() reached exactly 0.
    # float32: every backend's default (JAX has no float64 unless enabled);
    # bounds are rounded to the weight's dtype, so results are exact there.
    w = np.array([-7.0, 0.0, 2e-4, 3.0, 9.0], "float32")
    floor = np.array([1e-3, 1e-3, 1e-3, 3.0, 9.0], "float32")
    ceiling = np.array([-7.0, 0.0, 2e-4, 3.0, 5.0], "float32")
    np.testing.assert_array_equal(Box(min_value=1e-3)(w), floor)
    np.testing.assert_array_equal(Box(1e-3, float("inf"))(w), floor)
    np.testing.assert_array_equal(Box(max_value=5)(w), ceiling)
    np.testing.assert_array_equal(Box(float("-inf"), 5)(w), ceiling)
    assert Box(1e-3, float("inf")) == Box(min_value=1e-3)
    assert Box(min_value=1e-3).get_config() == {"min_value": 1e-3, "max_value": None}
    assert Box.from_config(Box(max_value=5).get_config()) == Box(None, 5.0)
    np.testing.assert_array_equal(Box(max_value=5).penalty(1.0).violation(w), 4.0)


def test_box_without_bounds_keeps_its_old_meaning_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"Box\(0.0, 1.0\)"):
        box = Box()
    assert box == Box(0.0, 1.0)
    # Saved configs hold both bounds, so 0.1.0 files mean what they meant.
    assert Box.from_config({"min_value": 0.0, "max_value": 1.0}) == Box(0.0, 1.0)


def test_what_keras_layer_arguments_accept():
    # Issue 14: the README promised snake-case names "as in Keras", but
    # kernel_constraint="sum_to" raised and "non_neg" was Keras's own NonNeg.
    # Keras looks strings up among its built-ins only; what works is stated
    # in the README and checked here.
    import keras

    registered = {"class_name": "keras_kernel_constraints>SumTo", "config": {"value": 2.0}}
    assert keras.layers.Dense(2, kernel_constraint=registered).kernel_constraint == SumTo(2.0)
    assert keras.layers.Dense(2, kernel_constraint=SumTo).kernel_constraint == SumTo(1.0)
    assert keras.layers.Dense(2, kernel_constraint=SumTo(3.0)).kernel_constraint == SumTo(3.0)
    assert type(keras.layers.Dense(2, kernel_constraint="non_neg").kernel_constraint) is (
        keras.constraints.NonNeg
    )
    with pytest.raises(ValueError, match="sum_to"):
        keras.layers.Dense(2, kernel_constraint="sum_to")
    assert constraints.get("non_neg") == NonNeg() and constraints.get("sum_to") == SumTo()
