"""Constraints under ``keras.distribution`` on JAX: data and model parallel.

Four virtual CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
which must be set before JAX starts, hence a fresh process per run) form a
2 x 2 mesh ``("batch", "model")``. Under ``ModelParallel`` a ``LayoutMap``
shards two Dense kernels and an Embedding table over ``"model"``; some
constraints' groups lie inside one shard, others span the sharded axis (the
projection then needs entries held by two devices, which XLA's sharding
propagation must gather). After ``fit`` every weight must be feasible, still
sharded as laid out, and equal to the same training on one device.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_kernel_constraints.constraints import L2Ball, SumTo, UnitSphere
from tests.specs import allowed, max_violation

pytestmark = [
    pytest.mark.slow,  # three fresh JAX processes
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed"),
]

# name: (constraint, layout under ModelParallel, whether groups span the sharded axis)
WEIGHTS = {
    # Embedding (40, 8) split by rows; UnitSphere(axis=-1): one group per row.
    "embed/embeddings": (UnitSphere(axis=-1), ("model", None), False),
    # Dense (48, 16) split by output units; SumTo's default: one group per unit.
    "inside/kernel": (SumTo(1.0), (None, "model"), False),
    # Dense (16, 16) split by input rows; SumTo's default groups run down the rows.
    "across/kernel": (SumTo(1.0), ("model", None), True),
    # Dense (16, 4) split by output units; L2Ball(axis=1): one group per row.
    "rows/kernel": (L2Ball(1.0, axis=1), (None, "model"), True),
}

SCRIPT = r"""
import json, sys
import jax
import keras
import numpy as np
from keras import distribution
from keras_kernel_constraints.constraints import L2Ball, SumTo, UnitSphere

mode = sys.argv[1]
devices = jax.devices("cpu")
assert len(devices) == 4, devices
layouts = json.loads(sys.argv[2])
if mode == "data":
    distribution.set_distribution(distribution.DataParallel(devices=devices))
elif mode == "model":
    mesh = distribution.DeviceMesh((2, 2), ["batch", "model"], devices)
    layout_map = distribution.LayoutMap(mesh)
    for path, axes in layouts.items():
        layout_map[path] = tuple(axes)
    distribution.set_distribution(
        distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    )

keras.utils.set_random_seed(0)
inputs = keras.Input((6,), dtype="int32")
h = keras.layers.Embedding(40, 8, embeddings_constraint=UnitSphere(axis=-1), name="embed")(inputs)
h = keras.layers.Flatten()(h)
h = keras.layers.Dense(16, activation="tanh", kernel_constraint=SumTo(1.0), name="inside")(h)
h = keras.layers.Dense(16, activation="tanh", kernel_constraint=SumTo(1.0), name="across")(h)
outputs = keras.layers.Dense(4, kernel_constraint=L2Ball(1.0, axis=1), name="rows")(h)
model = keras.Model(inputs, outputs)
model.compile(keras.optimizers.SGD(0.1), "mse")
rng = np.random.default_rng(0)
x = rng.integers(0, 40, size=(64, 6)).astype("int32")
y = rng.normal(scale=3.0, size=(64, 4)).astype("float32")
model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
weights = {}
for variable in model.trainable_variables:
    if variable.path in layouts:
        value = variable.value
        spec = tuple(value.sharding.spec) if hasattr(value.sharding, "spec") else None
        weights[variable.path] = {
            "value": np.asarray(value).tolist(),
            "spec": [None if a is None else str(a) for a in spec] if spec is not None else None,
            "devices": len(value.sharding.device_set),
        }
print(json.dumps(weights))
"""


def four_devices():
    """The environment of a fresh JAX process with four virtual CPU devices."""
    return dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        TF_CPP_MIN_LOG_LEVEL="3",
    )


def train(mode):
    env = four_devices()
    layouts = {path: list(layout) for path, (_, layout, _) in WEIGHTS.items()}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, json.dumps(layouts)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    return {mode: train(mode) for mode in ("single", "data", "model")}


@pytest.mark.parametrize("mode", ["data", "model"])
def test_weights_are_feasible_and_equal_to_one_device(runs, mode):
    for path, (constraint, _, _) in WEIGHTS.items():
        value = np.asarray(runs[mode][path]["value"], np.float32)
        assert max_violation(constraint, value) <= allowed(constraint, value), (mode, path)
        single = np.asarray(runs["single"][path]["value"], np.float32)
        # The same steps, summed in another order across devices.
        np.testing.assert_allclose(value, single, rtol=0, atol=2e-5, err_msg=f"{mode} {path}")


def test_model_parallel_keeps_every_layout(runs):
    for path, (_, layout, spans) in WEIGHTS.items():
        weight = runs["model"][path]
        assert weight["devices"] == 4, path
        # PartitionSpec drops trailing Nones; compare padded.
        spec = list(weight["spec"]) + [None] * (len(layout) - len(weight["spec"]))
        assert spec == list(layout), (path, spec, layout, "groups span the shards" if spans else "")


def test_data_parallel_replicates_every_weight(runs):
    for path in WEIGHTS:
        weight = runs["data"][path]
        assert weight["devices"] == 4 and all(axis is None for axis in weight["spec"]), path


PARAMETRIZED = r"""
import json, sys
import jax
import keras
import numpy as np
from keras import distribution
from keras_kernel_constraints import parametrizations as P

if sys.argv[1] == "data":
    distribution.set_distribution(distribution.DataParallel(devices=jax.devices("cpu")))
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((8,)),
    P.Parametrized(keras.layers.Dense(16, activation="tanh"), {"kernel": P.SumTo(1.0)}),
    P.Parametrized(keras.layers.Dense(4), {"kernel": P.Orthogonal()}),
])
model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=True)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype("float32")
y = rng.normal(size=(64, 4)).astype("float32")
model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
print(json.dumps([np.asarray(layer.effective_weight("kernel")).tolist() for layer in model.layers]))
"""


def test_parametrized_layers_train_under_data_parallel_like_on_one_device():
    env = four_devices()
    kernels = {}
    for mode in ("single", "data"):
        proc = subprocess.run(
            [sys.executable, "-c", PARAMETRIZED, mode],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        kernels[mode] = [np.asarray(k) for k in json.loads(proc.stdout.strip().splitlines()[-1])]
    sums, orthogonal = kernels["data"]
    np.testing.assert_allclose(sums.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(orthogonal.T @ orthogonal, np.eye(4), atol=1e-5)
    for data, single in zip(kernels["data"], kernels["single"], strict=True):
        np.testing.assert_allclose(data, single, rtol=0, atol=2e-5)
