"""0.1.0 call forms keep working for one release, with a DeprecationWarning."""

import numpy as np
import pytest

from keras_kernel_constraints import constraints, projections, regularizers
from keras_kernel_constraints.constraints import (
    CappedSimplex,
    L1Ball,
    L2Ball,
    Monotone,
    NormBand,
    Simplex,
    SumTo,
    UnitSphere,
)
from keras_kernel_constraints.regularizers import (
    DistancePenalty,
    FirstDifferencePenalty,
    L2BallPenalty,
    MonotonePenalty,
    NonNegPenalty,
    NormBandPenalty,
    SecondDifferencePenalty,
    SimplexPenalty,
    SumToPenalty,
)

# (0.1.0 positional call, the same object written the 0.2.0 way)
CLASSES = [
    (lambda: SumTo(2.0, (0, 1)), lambda: SumTo(2.0, axis=(0, 1))),
    (lambda: Simplex(2.0, -1), lambda: Simplex(2.0, axis=-1)),
    (lambda: CappedSimplex(1.0, 0.0, 0.5, 0), lambda: CappedSimplex(1.0, 0.0, 0.5, axis=0)),
    (lambda: L1Ball(2.0, -1), lambda: L1Ball(2.0, axis=-1)),
    (lambda: L2Ball(2.0, -1), lambda: L2Ball(2.0, axis=-1)),
    (lambda: UnitSphere(2.0, -1), lambda: UnitSphere(2.0, axis=-1)),
    (lambda: NormBand(0.5, 2.0, -1), lambda: NormBand(0.5, 2.0, axis=-1)),
    (
        lambda: Monotone(False, -1, 0.0, 1.0, 0.1),
        lambda: Monotone(False, axis=-1, min_value=0.0, max_value=1.0, min_step=0.1),
    ),
    (lambda: NonNegPenalty(0.5, 2), lambda: NonNegPenalty(strength=0.5, power=2)),
    (
        lambda: SumToPenalty(1.0, [0, 1], 0.1, 1),
        lambda: SumToPenalty(1.0, axis=(0, 1), strength=0.1, power=1),
    ),
    (lambda: SimplexPenalty(1.0, -1, 0.1), lambda: SimplexPenalty(1.0, axis=-1, strength=0.1)),
    (lambda: L2BallPenalty(2.0, -1, 0.1), lambda: L2BallPenalty(2.0, axis=-1, strength=0.1)),
    (
        lambda: NormBandPenalty(0.5, 1.0, -1, 0.1),
        lambda: NormBandPenalty(0.5, 1.0, axis=-1, strength=0.1),
    ),
    (
        lambda: MonotonePenalty(False, -1, 0.5, 1, 0.2),
        lambda: MonotonePenalty(False, axis=-1, strength=0.5, power=1, min_step=0.2),
    ),
    (
        lambda: FirstDifferencePenalty(-1, 0.1, 0.2),
        lambda: FirstDifferencePenalty(axis=-1, l1=0.1, l2=0.2),
    ),
    (lambda: SecondDifferencePenalty(-1, 0.1), lambda: SecondDifferencePenalty(axis=-1, l1=0.1)),
    (
        lambda: DistancePenalty(SumTo(), 0.5, 1),
        lambda: DistancePenalty(SumTo(), strength=0.5, power=1),
    ),
]


@pytest.mark.parametrize("old, new", CLASSES, ids=[type(new()).__name__ for _, new in CLASSES])
def test_old_positional_forms_warn_and_build_the_same_object(old, new):
    with pytest.warns(DeprecationWarning, match="pass them by keyword: .*="):
        built = old()
    assert built == new()


W = np.arange(12.0).reshape(3, 4) - 5.0
FUNCTIONS = [
    (
        lambda: projections.project_sum_to(W, 2.0, 0),
        lambda: projections.project_sum_to(W, 2.0, axis=0),
    ),
    (
        lambda: projections.project_simplex(W, 2.0, 0),
        lambda: projections.project_simplex(W, 2.0, axis=0),
    ),
    (
        lambda: projections.project_capped_simplex(W, 1.0, 0.0, 0.5, -1),
        lambda: projections.project_capped_simplex(W, 1.0, 0.0, 0.5, axis=-1),
    ),
    (
        lambda: projections.project_l2_ball(W, 1.0, 0),
        lambda: projections.project_l2_ball(W, 1.0, axis=0),
    ),
    (
        lambda: projections.project_norm_band(W, 1.0, 2.0, 0),
        lambda: projections.project_norm_band(W, 1.0, 2.0, axis=0),
    ),
    # 0.1.0 took (w, axis, increasing, ...): an int second argument is an axis.
    (lambda: projections.project_monotone(W, 1), lambda: projections.project_monotone(W, axis=1)),
    (
        lambda: projections.project_monotone(W, 1, False, -1.0),
        lambda: projections.project_monotone(W, False, axis=1, min_value=-1.0),
    ),
]


@pytest.mark.parametrize("old, new", FUNCTIONS)
def test_old_positional_function_calls_warn_and_compute_the_same(old, new):
    with pytest.warns(DeprecationWarning, match="0.1.0 order are deprecated"):
        out = old()
    np.testing.assert_array_equal(np.asarray(out), np.asarray(new()))


def test_a_bool_second_argument_of_project_monotone_is_the_new_form():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = projections.project_monotone(np.array([3.0, 1.0, 2.0]), False)
    np.testing.assert_array_equal(np.asarray(out), [3.0, 1.5, 1.5])


def test_too_many_or_doubled_arguments_raise_type_error():
    with pytest.raises(TypeError, match="at most 2 positional"):
        SumTo(1.0, 0, 5)
    with pytest.raises(TypeError, match="multiple values"):
        SumTo(1.0, 0, axis=1)


@pytest.mark.parametrize(
    "module, name",
    [
        (constraints, "GroupedConstraint"),
        (regularizers, "GroupedPenalty"),
        (regularizers, "DifferencePenalty"),
    ],
)
def test_retired_base_classes_warn(module, name):
    with pytest.warns(DeprecationWarning, match=f"{name} is deprecated"):
        assert isinstance(getattr(module, name), type)
    with pytest.raises(AttributeError):
        module.NoSuchThing  # noqa: B018
