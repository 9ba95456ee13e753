"""``Parametrized`` on every layer kind: training under XLA, saving, export and bake.

One functional model holds every supported layer kind, each with a map on
one of its kernels (``LAYERS``), so one fit, one save and one fresh-process
load cover them all.
"""

from __future__ import annotations

import importlib.util
import json
import textwrap

import keras
import numpy as np
import pytest
from keras import layers as L

from keras_kernel_constraints import parametrizations as P
from keras_kernel_constraints import training
from tests.helpers import needs_keras_3_4, run_python, to_numpy
from tests.parametrizations.custom_layer import Scale

pytestmark = [pytest.mark.slow, needs_keras_3_4]  # trains and saves every layer kind

JIT = keras.backend.backend() in ("tensorflow", "jax")


# (input name, layer, weight, map): one branch of the model each.
LAYERS = [
    ("vector", lambda: L.Dense(4, name="dense"), "kernel", P.Orthogonal()),
    ("vector", lambda: L.EinsumDense("ab,bc->ac", 4, name="einsum"), "kernel", P.SumTo(1.0)),
    ("vector", lambda: Scale(name="custom"), "w", P.Positive()),
    ("sequence", lambda: L.Conv1D(3, 4, name="conv1d"), "kernel", P.Monotone(min_value=0.0)),
    ("sequence", lambda: L.Conv1DTranspose(3, 3, name="conv1d_t"), "kernel", P.Box(-0.5, 0.5)),
    (
        "sequence",
        lambda: L.DepthwiseConv1D(3, name="depthwise1d"),
        "kernel",
        P.Simplex(axis="units"),
    ),
    ("sequence", lambda: L.SeparableConv1D(4, 3, name="sep1d"), "depthwise_kernel", P.Sphere()),
    (
        "sequence",
        lambda: L.SeparableConv1D(4, 3, name="sep1d_p"),
        "pointwise_kernel",
        P.L2Ball(0.5),
    ),
    ("image", lambda: L.Conv2D(4, 3, name="conv2d"), "kernel", P.SumTo(1.0)),
    (
        "image",
        lambda: L.Conv2DTranspose(4, 3, name="conv2d_t"),
        "kernel",
        P.SumTo(1.0, axis="units"),
    ),
    ("image", lambda: L.DepthwiseConv2D(3, name="depthwise2d"), "kernel", P.Sphere(axis="units")),
    ("image", lambda: L.SeparableConv2D(4, 3, name="sep2d"), "pointwise_kernel", P.Positive()),
    ("volume", lambda: L.Conv3D(2, 2, name="conv3d"), "kernel", P.Simplex()),
    (
        "volume",
        lambda: L.Conv3DTranspose(2, 2, name="conv3d_t"),
        "kernel",
        P.Orthogonal(axis="units"),
    ),
    ("tokens", lambda: L.Embedding(10, 4, name="embedding"), "embeddings", P.Sphere(axis=1)),
]
INPUTS = {
    "vector": (5,),
    "sequence": (12, 3),
    "image": (8, 8, 3),
    "volume": (4, 4, 4, 2),
    "tokens": (6,),
}


def build_model():
    inputs = {
        name: keras.Input(shape, name=name, dtype="int32" if name == "tokens" else "float32")
        for name, shape in INPUTS.items()
    }
    outputs = []
    for source, make, weight, parametrization in LAYERS:
        layer = make()
        wrapped = P.Parametrized(layer, {weight: parametrization}, name=f"p_{layer.name}")
        y = wrapped(inputs[source])
        outputs.append(L.GlobalAveragePooling1D()(L.Reshape((-1, 1))(y)))
    return keras.Model(inputs, L.Concatenate()(outputs))


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        name: rng.integers(0, 10, (n, *shape)).astype("int32")
        if name == "tokens"
        else rng.standard_normal((n, *shape)).astype("float32")
        for name, shape in INPUTS.items()
    }
    return x, rng.standard_normal((n, len(LAYERS))).astype("float32")


def violations(model):
    """Per parametrized weight, the largest distance to its set (0 on the set)."""
    found = {}
    for layer in model.layers:
        if not isinstance(layer, P.Parametrized):
            continue
        for name in layer.parametrized_weights:
            w = layer.effective_weight(name)
            projected = to_numpy(layer._maps[name].set.project(w))
            found[layer.name] = float(np.max(np.abs(projected - to_numpy(w))))
    return found


class Feasible(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.worst = {}

    def on_train_batch_end(self, batch, logs=None):
        for name, value in violations(self.model).items():
            self.worst[name] = max(self.worst.get(name, 0.0), value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=JIT)
    x, y = data()
    before = {
        layer.name: to_numpy(layer._free[n].value).copy()
        for layer in model.layers
        if isinstance(layer, P.Parametrized)
        for n in layer.parametrized_weights
    }
    feasible = Feasible()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[feasible])
    folder = tmp_path_factory.mktemp("parametrized")
    np.savez(folder / "x.npz", **x)
    return model, x, before, feasible.worst, folder


def test_every_layer_kind_trains_and_stays_in_its_set_after_every_step(trained):
    model, _, before, worst, _ = trained
    assert set(worst) == {f"p_{make().name}" for _, make, _, _ in LAYERS}
    assert max(worst.values()) <= 1e-5, worst
    moved = {
        layer.name: float(np.max(np.abs(to_numpy(layer._free[n].value) - before[layer.name])))
        for layer in model.layers
        if isinstance(layer, P.Parametrized)
        for n in layer.parametrized_weights
    }
    assert min(moved.values()) > 1e-4, moved  # every free variable trained


def predict_in_a_fresh_process(path, folder, *, package):
    """Load ``path`` in a new interpreter (importing this package or not) and
    predict on the saved inputs; the predictions and the trainable names."""
    code = textwrap.dedent(
        f"""
        import json, sys, numpy as np, keras
        {"import keras_kernel_constraints" if package else ""}
        import tests.parametrizations.custom_layer
        model = keras.saving.load_model({str(path)!r})
        x = dict(np.load({str(folder / "x.npz")!r}))
        np.save({str(folder / "predicted.npy")!r}, model.predict(x, verbose=0))
        assert ("keras_kernel_constraints" in sys.modules) == {package}
        print(json.dumps(sorted(w.name for w in model.trainable_weights)))
        """
    )
    trainable = json.loads(run_python(code).strip().splitlines()[-1])
    return np.load(folder / "predicted.npy"), trainable


def test_reload_in_a_fresh_process_predicts_identically(trained):
    model, x, _, _, folder = trained
    model.save(folder / "model.keras")
    predicted, trainable = predict_in_a_fresh_process(folder / "model.keras", folder, package=True)
    assert np.max(np.abs(predicted - model.predict(x, verbose=0))) == 0.0
    assert trainable == sorted(w.name for w in model.trainable_weights)  # free, not inner


def test_saving_writes_the_weight_in_use_into_the_inner_layer(trained):
    model, *_ = trained
    layer = model.get_layer("p_conv2d")
    model.save(trained[4] / "again.keras")
    assert (
        np.max(
            np.abs(to_numpy(layer.layer.kernel.value) - to_numpy(layer.effective_weight("kernel")))
        )
        == 0.0
    )


def test_bake_serves_the_same_outputs_without_the_package(trained):
    model, x, _, _, folder = trained
    baked = training.bake(model)
    assert not any(isinstance(layer, P.Parametrized) for layer in baked.layers)
    # Called eagerly, both compute the same weights with the same operations;
    # PyTorch may pick another convolution algorithm for a computed (strided)
    # kernel than for a parameter: an ulp apart there (measured 1.2e-7).
    eager = to_numpy(model(x))
    ulps = 0 if keras.backend.backend() != "torch" else 4
    assert np.max(np.abs(to_numpy(baked(x)) - eager)) <= ulps * 2**-23 * np.abs(eager).max()
    baked.save(folder / "baked.keras")
    predicted, _ = predict_in_a_fresh_process(folder / "baked.keras", folder, package=False)
    assert np.max(np.abs(predicted - baked.predict(x, verbose=0))) == 0.0


@pytest.mark.skipif(
    keras.backend.backend() == "torch" or importlib.util.find_spec("tensorflow") is None,
    reason="model.export() writes a TensorFlow SavedModel: TF, and JAX with tensorflow installed",
)
def test_export_serves_the_same_outputs(trained):
    model, x, _, _, folder = trained
    path = folder / "exported"
    model.export(str(path))
    code = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(path)!r})
        x = dict(np.load({str(folder / "x.npz")!r}))
        try:
            out = served.serve(x)
        except TypeError:  # Keras 3.4 exports dict inputs as a list, in sorted key order
            out = served.serve([x[k] for k in sorted(x)])
        np.save({str(folder / "served.npy")!r}, out.numpy())
        """
    )
    run_python(code)
    expected = model.predict(x, verbose=0)
    assert np.max(np.abs(np.load(folder / "served.npy") - expected)) <= 1e-5 * max(
        1.0, np.abs(expected).max()
    )
