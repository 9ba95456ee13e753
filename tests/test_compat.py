"""Files and configs written by release 0.1.0 keep loading, with the same meaning.

The fixtures in ``tests/compat/v0_1_0`` were written by release 0.1.0
(``tests/compat/make_fixtures.py``): a model holding every constraint and
penalty class of that release, and every catalogued object's serialized
config with the numbers it produced.
"""

import json
import pathlib
import warnings

import keras
import numpy as np
import pytest

import keras_kernel_constraints  # noqa: F401  (registers the classes the fixtures name)
from tests.helpers import run_python, sum_tolerance, tensor, to_numpy

FIXTURES = pathlib.Path(__file__).parent / "compat" / "v0_1_0"
DOCUMENT = json.loads((FIXTURES / "objects.json").read_text())
PROBE = np.asarray(DOCUMENT["probe"], np.float64)
# 0.2.0 finishes the simplex family's threshold the way optax and jaxopt do
# (the target kept apart from max|w|, for extreme scales), so these may now
# round differently: within their sum tolerance for the probe, not bit for bit.
# So may Monotone, whose short slices 0.2.0 solves by the min-max formula.
REFINISHED = {"Simplex", "CappedSimplex", "L1Ball", "Monotone"}

LOADER = r"""
import json, sys
import numpy as np
import keras
import keras_kernel_constraints

folder, out = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(folder + "/catalog.keras", safe_mode=True)
x = np.load(folder + "/inputs.npy")
before = model.predict(x, verbose=0)
modules = sorted({type(layer.kernel.constraint).__module__.split(".")[0] for layer in model.layers})
rng = np.random.default_rng(7)
model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
model.fit(x, 3 * rng.normal(size=(len(x), 6)).astype("float32"), epochs=2, batch_size=8, verbose=0)
np.savez(out, before=before, **{layer.name: layer.kernel.numpy() for layer in model.layers})
constraints = {layer.name: keras.saving.serialize_keras_object(layer.kernel_constraint)
               for layer in model.layers}
print(json.dumps({"modules": modules, "constraints": constraints}))
"""


@pytest.mark.slow
def test_a_model_saved_by_0_1_0_loads_predicts_identically_and_trains_feasibly(tmp_path):
    from tests.specs import allowed, max_violation

    # PyTorch compiles the 11-layer model with torch.compile (jit_compile=True):
    # minutes on a busy 2-core machine, so more than run_python's default.
    report = json.loads(run_python(LOADER, str(FIXTURES), str(tmp_path / "after.npz"), timeout=900))
    assert report["modules"] == ["keras_kernel_constraints"]
    after = np.load(tmp_path / "after.npz")
    saved = np.load(FIXTURES / "predictions.npy")
    if keras.backend.backend() == "tensorflow":  # where 0.1.0 computed them
        np.testing.assert_array_equal(after["before"], saved)
    else:  # the same weights; the matrix products round in another order
        np.testing.assert_allclose(after["before"], saved, rtol=1e-6, atol=1e-6)
    assert len(report["constraints"]) == 18  # every constraint of 0.1.0's catalogue
    for name, config in report["constraints"].items():
        constraint = keras.saving.deserialize_keras_object(config)
        kernel = after[name]
        assert max_violation(constraint, kernel) <= allowed(constraint, kernel), constraint


@pytest.mark.parametrize(
    "entry", DOCUMENT["objects"], ids=[entry["repr"] for entry in DOCUMENT["objects"]]
)
def test_every_0_1_0_config_loads_and_computes_the_same_numbers(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stored config is not a deprecated call form
        obj = keras.saving.deserialize_keras_object(entry["serialized"])
    assert type(obj).__module__.startswith("keras_kernel_constraints.")
    out = to_numpy(obj(tensor(PROBE, "float64")))
    # 0.1.0 wrote its outputs on TensorFlow; other backends sum in other
    # orders, so there the same numbers means within the sum tolerance.
    same_backend = keras.backend.backend() == "tensorflow"
    if entry["serialized"]["class_name"] in REFINISHED or not same_backend:
        tolerance = sum_tolerance("float64", PROBE.size, np.abs(PROBE).max())
        np.testing.assert_allclose(out, entry["output"], rtol=0, atol=tolerance)
    else:
        np.testing.assert_array_equal(out, np.asarray(entry["output"]))
