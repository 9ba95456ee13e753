"""Groups per output unit for every layer kind, constraint_summary, and the
checks that attach, project_now and constraints run before they change a weight."""

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Box, NonNeg, ProjectionConstraint, SumTo
from keras_kernel_constraints.inspection import constraint_summary, unit_axis
from keras_kernel_constraints.regularizers import NonNegPenalty
from keras_kernel_constraints.training import Rule, attach, project_now

L = keras.layers

# (layer, input shape, weight, axes that index one output unit), written from
# the kernels' documented layouts, independently of the package's table.
KINDS = [
    (lambda: L.Dense(4), (3,), "kernel", (1,)),
    (lambda: L.EinsumDense("abc,cde->abde", (None, 4, 5)), (2, 3), "kernel", (1, 2)),
    (lambda: L.Conv1D(4, 3), (9, 2), "kernel", (2,)),
    (lambda: L.Conv2D(4, 3), (8, 8, 2), "kernel", (3,)),
    (lambda: L.Conv3D(2, 3), (5, 5, 5, 2), "kernel", (4,)),
    (lambda: L.Conv1DTranspose(4, 3), (9, 2), "kernel", (1,)),
    (lambda: L.Conv2DTranspose(5, 3), (8, 8, 2), "kernel", (2,)),
    (lambda: L.Conv3DTranspose(2, 3), (5, 5, 5, 3), "kernel", (3,)),
    (lambda: L.DepthwiseConv1D(3, depth_multiplier=2), (9, 3), "kernel", (1, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3), "kernel", (2, 3)),
    (lambda: L.SeparableConv1D(4, 3), (9, 3), "depthwise_kernel", (1, 2)),
    (lambda: L.SeparableConv2D(4, 3, depth_multiplier=2), (8, 8, 3), "depthwise_kernel", (2, 3)),
    (lambda: L.SeparableConv2D(4, 3), (8, 8, 3), "pointwise_kernel", (3,)),
    (lambda: L.Embedding(10, 4), (5,), "embeddings", (0,)),
]
IDS = [
    *("dense", "einsum", "conv1d", "conv2d", "conv3d", "conv1dT", "conv2dT", "conv3dT"),
    *("depthwise1d", "depthwise2d", "separable1d", "separable2d", "pointwise", "embedding"),
]


def model_of(make, input_shape, name="unit"):
    layer = make()
    layer.name = name
    dtype = "int32" if isinstance(layer, L.Embedding) else "float32"
    model = keras.Sequential([keras.Input(input_shape, dtype=dtype), layer])
    return model, layer


def unit_sums(kernel, unit_axes):
    groups = tuple(a for a in range(kernel.ndim) if a not in unit_axes)
    return kernel.sum(axis=groups)


@pytest.mark.parametrize("make, input_shape, weight, units", KINDS, ids=IDS)
def test_axis_units_gives_one_group_per_output_unit_for_every_layer_kind(
    make, input_shape, weight, units
):
    # Issue 14: DepthwiseConv2D(3, depthwise_constraint=SumTo(1.0)) summed
    # across channels (0.97, 0.37, -0.33) and Conv2DTranspose across filters.
    model, layer = model_of(make, input_shape)
    variable = next(v for v in layer.weights if v.name == weight)
    rank = len(variable.shape)
    expected_axis = tuple(a for a in range(rank) if a not in units)
    assert unit_axis(layer, weight) == expected_axis
    attach(model, Rule("unit", weight, constraint=SumTo(1.0, axis="units")))
    assert variable.constraint == SumTo(1.0, axis=expected_axis)
    sums = unit_sums(keras.ops.convert_to_numpy(variable), units)
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)  # projected at once
    rows = constraint_summary(model, print_fn=None)
    row = next(r for r in rows if r.weight == weight)
    assert row.groups.endswith(": one per " + row.groups.split(": one per ")[-1])
    assert row.warning is None


@pytest.mark.parametrize(
    "layer, input_shape, constraint, right",
    [
        (L.DepthwiseConv2D(3, name="unit"), (8, 8, 3), SumTo(1.0), (0, 1)),
        (L.Conv2DTranspose(5, 3, name="unit"), (8, 8, 2), SumTo(1.0), (0, 1, 3)),
        # The Conv2D recipe copied onto a transposed kernel groups per input channel.
        (L.Conv2DTranspose(5, 3, name="unit"), (8, 8, 2), SumTo(1.0, axis=(0, 1, 2)), (0, 1, 3)),
        (L.Embedding(10, 4, name="unit"), (5,), SumTo(1.0), (1,)),
    ],
    ids=["depthwise-default", "transpose-default", "transpose-conv2d-recipe", "embedding-default"],
)
def test_summary_warns_where_groups_span_output_units(layer, input_shape, constraint, right):
    attribute = "depthwise_constraint" if "Depthwise" in type(layer).__name__ else None
    setattr_name = attribute or (
        "embeddings_constraint" if isinstance(layer, L.Embedding) else "kernel_constraint"
    )
    setattr(layer, setattr_name, constraint)
    dtype = "int32" if isinstance(layer, L.Embedding) else "float32"
    model = keras.Sequential([keras.Input(input_shape, dtype=dtype), layer])
    with pytest.warns(UserWarning, match=rf"spans several .* use axis={re_tuple(right)}"):
        rows = constraint_summary(model, print_fn=None)
    assert rows[0].warning is not None


def re_tuple(axes):
    return str(tuple(axes)).replace("(", r"\(").replace(")", r"\)")


def test_summary_table_names_kind_weight_shape_object_and_groups():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(8, 3, name="conv", kernel_constraint=SumTo(1.0), bias_constraint=Box(0, 1)),
            L.DepthwiseConv2D(3, name="dw", depthwise_constraint=SumTo(1.0)),
        ]
    )
    printed = []
    with pytest.warns(UserWarning, match="dw/kernel"):
        constraint_summary(model, print_fn=printed.append)
    (table,) = printed
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "kind", "weight", "shape", "role", "object", "groups"]
    assert "conv   Conv2D" in lines[1] and "8 groups of 27: one per output filter" in lines[1]
    assert "each of the 8 entries" in lines[2]
    assert "1 group of 72 over axes (0, 1, 2)  !" in lines[3]
    assert lines[4].startswith("! dw/kernel: each group spans several output channels")


def test_axis_units_on_a_layer_directly_fails_on_first_use_and_says_what_to_do():
    layer = L.Dense(3, kernel_constraint=SumTo(1.0, axis="units"))
    layer.build((None, 4))
    with pytest.raises(ValueError, match=r"SumTo: axis='units' .* training.attach"):
        layer.kernel.constraint(layer.kernel)


# -- attach checks every rule first, and projects --------------------------------


def small_net():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    h = L.Conv2D(4, 3, name="conv")(inputs)
    h = L.DepthwiseConv2D(3, name="dw")(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, L.Dense(2, name="head")(h))


def test_attach_projects_at_once_unless_told_not_to():
    # Issue 14: weights stayed infeasible until the next step (0.318 on
    # MobileNetV2 right after attach).
    model = small_net()
    attach(model, Rule(L.Conv2D, "kernel", NonNeg()))
    assert model.get_layer("conv").kernel.numpy().min() == 0.0
    model = small_net()
    attach(model, Rule(L.Conv2D, "kernel", NonNeg()), project=False)
    assert model.get_layer("conv").kernel.numpy().min() < 0.0


def test_attach_checks_every_rule_before_changing_anything():
    model = small_net()
    before = model.get_layer("conv").kernel.numpy().copy()
    rules = [
        Rule(L.Conv2D, "kernel", NonNeg()),
        Rule("head", "kernel", SumTo(1.0, axis=3)),  # a (4, 2) kernel has no axis 3
    ]
    with pytest.raises(ValueError, match=r"Rule 1 on .*head/kernel.*`axis`=3 is out of range"):
        attach(model, rules)
    conv = model.get_layer("conv")
    assert conv.kernel.constraint is None and conv.kernel_constraint is None
    np.testing.assert_array_equal(conv.kernel.numpy(), before)


def test_a_misspelt_weight_name_lists_the_weights_and_close_names_briefly():
    # Issue 14: a 3,400-character error listing 150 layers.
    inputs = keras.Input((4,))
    h = inputs
    for i in range(150):
        h = L.Dense(4, name=f"dense_{i}")(h)
    model = keras.Model(inputs, h)
    with pytest.raises(ValueError) as error:
        attach(model, Rule(L.Dense, "kernal", NonNeg()))
    message = str(error.value)
    assert "150 layer(s) match" in message and "['bias', 'kernel']" in message
    assert "did you mean ['kernel']" in message and len(message) < 400
    with pytest.raises(
        ValueError, match=r"no layer of the \d+ matches; close layer names: \[.dense_1.,"
    ):
        attach(model, Rule("dense_1O", "kernel", NonNeg()))


class ToInt(ProjectionConstraint):
    def project(self, w):
        return keras.ops.cast(w, "int32")

    def get_config(self):
        return {}


class Flatten(ProjectionConstraint):
    def project(self, w):
        return keras.ops.reshape(w, (-1,))

    def get_config(self):
        return {}


@pytest.mark.parametrize(
    "constraint, message",
    [(ToInt(), r"ToInt returned .* dtype int32"), (Flatten(), r"Flatten returned .* shape \(6,\)")],
)
def test_a_subclass_returning_another_dtype_or_shape_is_named(constraint, message):
    # Issue 14: int32 silently zeroed the kernel; a wrong shape failed in
    # Keras's assign without naming the constraint.
    layer = L.Dense(2, kernel_constraint=constraint, name="head")
    model = keras.Sequential([keras.Input((3,)), layer])
    with pytest.raises(ValueError, match=message + r".*variable 'sequential.*head/kernel'"):
        layer.kernel_constraint(layer.kernel)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=message):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)


def test_a_penalty_set_as_a_constraint_is_caught_where_the_package_can():
    layer = L.Dense(2, kernel_constraint=NonNegPenalty(strength=0.1), name="head")
    model = keras.Sequential([keras.Input((3,)), layer])
    with pytest.warns(UserWarning, match="is a penalty .* set as a constraint"):
        constraint_summary(model, print_fn=None)
    with pytest.raises(ValueError, match="is a penalty"):
        project_now(model)
    with pytest.raises(ValueError, match=r"Rule 0 on .*head/kernel.*is a penalty"):
        attach(small_net(), Rule("head", "kernel", constraint=NonNegPenalty(strength=0.1)))


def test_a_constraint_set_as_a_regularizer_is_caught_where_the_package_can():
    # Keras adds the sum of the projected weight to the loss (12.0 here).
    layer = L.Dense(2, kernel_initializer="ones", kernel_regularizer=Box(0.0, 2.0), name="head")
    model = keras.Sequential([keras.Input((6,)), layer])
    assert sum(float(np.sum(keras.ops.convert_to_numpy(loss))) for loss in model.losses) == 12.0
    with pytest.warns(UserWarning, match="is a constraint, set as a regularizer"):
        constraint_summary(model, print_fn=None)
    with pytest.raises(ValueError, match="is a constraint, set as a regularizer"):
        attach(small_net(), Rule("head", "kernel", regularizer=Box(0.0, 2.0)))


class Counter(L.Layer):
    def build(self, input_shape):
        # Not trainable: PyTorch refuses integer parameters that need gradients.
        self.count = self.add_weight(
            shape=(3,),
            dtype="int32",
            initializer="zeros",
            name="count",
            constraint=NonNeg(),
            trainable=False,
        )

    def call(self, x):
        return x


def test_a_constraint_on_an_integer_weight_is_caught():
    # Issue 14: accepted and never applied (an integer weight has no gradient).
    model = keras.Sequential([keras.Input((3,)), Counter(name="counter")])
    with pytest.warns(UserWarning, match="dtype int32: it gets no gradient"):
        constraint_summary(model, print_fn=None)
    with pytest.raises(ValueError, match="counter/count: a constraint on a weight of dtype int32"):
        project_now(model.weights)
    plain = keras.Sequential([keras.Input((3,)), Counter(name="counter")])
    plain.get_layer("counter").count.constraint = None
    with pytest.raises(ValueError, match=r"Rule 0 on .*counter/count.*dtype int32"):
        attach(plain, Rule("counter", "count", NonNeg()))
