"""Saving to ``.keras``, loading in a fresh process, and ``model.export()``."""

import json

import keras
import numpy as np
import pytest

from keras_kernel_constraints.constraints import Box, NonNeg, SumTo
from keras_kernel_constraints.regularizers import (
    BoxPenalty,
    DistancePenalty,
    NonNegPenalty,
    SumToPenalty,
)
from tests.catalog import CONSTRAINTS, REGULARIZERS, catalog_model
from tests.helpers import run_python, tensorflow_only
from tests.specs import allowed, max_violation

ATTRIBUTES = ("kernel_constraint", "kernel_regularizer", "bias_constraint", "bias_regularizer")

# Runs in a fresh interpreter that imports only keras and this package.
LOADER = r"""
import json, sys
import numpy as np
import keras
import keras_kernel_constraints

path, x_path = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(path, safe_mode=True)
x = np.load(x_path)
report = {"objects": {}, "prediction": model.predict(x, verbose=0).tolist()}
for layer in model.layers:
    for attr in ("kernel_constraint", "kernel_regularizer", "bias_constraint", "bias_regularizer"):
        obj = getattr(layer, attr, None)
        if obj is not None:
            report["objects"][f"{layer.name}.{attr}"] = {
                "module": type(obj).__module__,
                "serialized": keras.saving.serialize_keras_object(obj),
            }
    for variable in layer.trainable_weights:
        if variable.constraint is not None:
            key = f"{layer.name}.{variable.name}.on_variable"
            report["objects"][key] = type(variable.constraint).__name__
# Keep training after the reload: the restored constraints must still act.
model.compile(keras.optimizers.Adam(0.1), "mse", jit_compile=True)
model.fit(x, 5 * np.ones((len(x), 3), "float32"), epochs=2, verbose=0)
conv, dense = model.get_layer("conv"), model.get_layer("dense")
spatial_sums = conv.kernel.numpy().astype(np.float64).sum(axis=(0, 1))
report["after_training"] = {
    "conv_spatial_sum_error": float(np.abs(spatial_sums - 1.0).max()),
    "conv_bias_range": [float(conv.bias.numpy().min()), float(conv.bias.numpy().max())],
    "dense_kernel_min": float(dense.kernel.numpy().min()),
    "dense_bias_sum": float(dense.bias.numpy().astype(np.float64).sum()),
}
print(json.dumps(report))
"""


def build_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(
        4,
        3,
        name="conv",
        kernel_constraint=SumTo(1.0, axis=(0, 1)),
        kernel_regularizer=DistancePenalty(SumTo(1.0, axis=(0, 1)), strength=0.1, power=1),
        bias_constraint=Box(-0.5, 0.5),
        bias_regularizer=BoxPenalty(-0.5, 0.5, strength=0.1),
    )(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(
        3,
        name="dense",
        kernel_constraint=NonNeg(),
        kernel_regularizer=NonNegPenalty(strength=0.01, power=2),
        bias_constraint=SumTo(0.0),
        bias_regularizer=SumToPenalty(0.0, strength=0.1, power=1),
    )(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model = build_model()
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 2)).astype("float32")
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, np.ones((16, 3), "float32"), epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("saved")
    np.save(folder / "x.npy", x)
    model.save(folder / "model.keras")
    return model, x, folder


@pytest.mark.slow
def test_model_loads_in_a_fresh_process_with_safe_mode(trained):
    model, x, folder = trained
    report = json.loads(run_python(LOADER, str(folder / "model.keras"), str(folder / "x.npy")))

    expected = {}
    for layer in model.layers:
        for attr in ATTRIBUTES:
            obj = getattr(layer, attr, None)
            if obj is not None:
                expected[f"{layer.name}.{attr}"] = keras.saving.serialize_keras_object(obj)
    assert len(expected) == 8
    for key, serialized in expected.items():
        got = report["objects"][key]
        assert got["module"].startswith("keras_kernel_constraints.")
        assert got["serialized"] == json.loads(json.dumps(serialized))
    on_variables = {k: v for k, v in report["objects"].items() if k.endswith("on_variable")}
    assert sorted(on_variables.values()) == ["Box", "NonNeg", "SumTo", "SumTo"]

    prediction = model.predict(x, verbose=0)
    np.testing.assert_allclose(report["prediction"], prediction, rtol=1e-5, atol=1e-5)
    after = report["after_training"]
    assert after["conv_spatial_sum_error"] <= 1e-5
    assert after["conv_bias_range"][0] >= -0.5 and after["conv_bias_range"][1] <= 0.5
    assert after["dense_kernel_min"] >= 0.0
    assert abs(after["dense_bias_sum"]) <= 1e-5


def test_model_config_round_trips_in_process(trained):
    model, _, _ = trained
    clone = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    for layer, twin in zip(model.layers, clone.layers, strict=True):
        for attr in ATTRIBUTES:
            assert getattr(layer, attr, None) == getattr(twin, attr, None)


@pytest.mark.slow
@tensorflow_only("model.export() writes a TensorFlow SavedModel (served with tf.saved_model)")
def test_export_serves_the_same_predictions(trained, tmp_path):
    import tensorflow as tf

    model, x, _ = trained
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "exported"))  # keep it alive while serving
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(served.numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


# Every catalogued constraint and regularizer, one Dense layer each.
CATALOG_LOADER = r"""
import json, sys
import numpy as np
import keras
import keras_kernel_constraints

path, out = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(path, safe_mode=True)
report = {}
for layer in model.layers:
    report[layer.name] = [
        keras.saving.serialize_keras_object(layer.kernel_constraint),
        keras.saving.serialize_keras_object(layer.kernel_regularizer),
        type(layer.kernel.constraint).__module__,
    ]
rng = np.random.default_rng(1)
x = rng.normal(size=(64, 6)).astype("float32")
# PyTorch trains eagerly, its default: torch.compile of this 40-layer chain took
# 332-452 s on 2 cores (every loop with a data-dependent stop breaks its graph).
# A compiled fit of each constraint on PyTorch: test_compat, test_training.
jit = keras.backend.backend() != "torch"
model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=jit)
model.fit(x, 3 * rng.normal(size=(64, 6)).astype("float32"), epochs=2, verbose=0)
np.savez(out, **{layer.name: layer.kernel.numpy() for layer in model.layers})
print(json.dumps(report))
"""


@pytest.mark.slow
def test_every_catalogued_object_loads_and_keeps_acting_in_a_fresh_process(tmp_path):
    assert len(CONSTRAINTS) >= len(REGULARIZERS)  # so every regularizer is used
    model = catalog_model()
    model.save(tmp_path / "catalog.keras")
    report = json.loads(
        run_python(CATALOG_LOADER, str(tmp_path / "catalog.keras"), str(tmp_path / "after.npz"))
    )
    after = np.load(tmp_path / "after.npz")
    for i, constraint in enumerate(CONSTRAINTS):
        name = f"layer_{i}"
        serialized_constraint, serialized_regularizer, module = report[name]
        assert serialized_constraint == json.loads(
            json.dumps(keras.saving.serialize_keras_object(constraint))
        )
        regularizer = REGULARIZERS[i % len(REGULARIZERS)]
        assert serialized_regularizer == json.loads(
            json.dumps(keras.saving.serialize_keras_object(regularizer))
        )
        assert module.startswith("keras_kernel_constraints.")
        assert max_violation(constraint, after[name]) <= allowed(constraint, after[name])


@pytest.mark.slow
@tensorflow_only("model.export() writes a TensorFlow SavedModel (served with tf.saved_model)")
def test_catalog_model_exports_and_serves(tmp_path):
    import tensorflow as tf

    model = catalog_model()
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    np.testing.assert_allclose(
        loaded.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
