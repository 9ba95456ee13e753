"""Constraint classes: validation, first-use errors, configs, lookup, companions."""

import numpy as np
import pytest

from keras_kernel_constraints import constraints, regularizers
from keras_kernel_constraints.constraints import Box, NonNeg, SumTo


def test_lookup_by_name_alias_class_and_instance():
    assert constraints.get(None) is None
    assert constraints.get("SumTo") == SumTo() == constraints.get("sum_to")
    assert constraints.get("non_neg") == NonNeg()
    assert constraints.get(Box) == Box()
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
