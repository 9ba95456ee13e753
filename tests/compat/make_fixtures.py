"""Write the 0.1.0 compatibility fixtures (run once, with release 0.1.0 installed).

    python tests/compat/make_fixtures.py tests/compat/v0_1_0

Writes, from the code of release 0.1.0 (commit d4304b7):

* ``catalog.keras``: a model with one Dense layer per catalogued constraint,
  each with a regularizer, so every constraint and penalty class of the
  release is in the file; trained for a few steps;
* ``inputs.npy`` and ``predictions.npy``: inputs and the model's outputs;
* ``objects.json``: every catalogued constraint and regularizer as Keras
  serializes it, with the projection (constraints) or the penalty value
  (regularizers) it gave on ``probe`` (stored beside it), in float64.

The tests in ``tests/test_compat.py`` load these with the current code and
require the same objects, the same numbers and the same predictions. This
script imports the test catalog of the release it runs under; it is kept to
show how the files were made, not to be run again on later releases.
"""

import json
import pathlib
import sys

import keras
import numpy as np

from tests.catalog import CONSTRAINTS, REGULARIZERS, catalog_model


def main(folder):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    model = catalog_model(seed=3)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = 3 * rng.normal(size=(32, 6)).astype("float32")
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    model.save(folder / "catalog.keras")
    np.save(folder / "inputs.npy", x)
    np.save(folder / "predictions.npy", model.predict(x, verbose=0))

    probe = 2 * rng.normal(size=(3, 3, 2, 4))
    objects = []
    for obj in CONSTRAINTS:
        out = keras.ops.convert_to_numpy(obj(keras.ops.convert_to_tensor(probe)))
        objects.append(
            {
                "kind": "constraint",
                "serialized": keras.saving.serialize_keras_object(obj),
                "repr": repr(obj),
                "output": np.asarray(out, np.float64).tolist(),
            }
        )
    for obj in REGULARIZERS:
        out = keras.ops.convert_to_numpy(obj(keras.ops.convert_to_tensor(probe)))
        objects.append(
            {
                "kind": "regularizer",
                "serialized": keras.saving.serialize_keras_object(obj),
                "repr": repr(obj),
                "output": float(out),
            }
        )
    document = {"keras": keras.__version__, "probe": probe.tolist(), "objects": objects}
    (folder / "objects.json").write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
