"""A constrained model saved, reloaded in a new process, trained on, and exported.

The model holds three constraints and a penalty of this package (Monotone
on a Conv1D kernel, SumTo on a second one, NonNeg on the Dense kernel,
NonNegPenalty as its regularizer). Its target is the average of a rectified
ramp filter, so the Monotone kernels learn rising taps. It is trained,
saved to ``.keras``, then
a *new Python process* that imports only ``keras`` and
``keras_kernel_constraints`` loads it with ``safe_mode=True`` and no
``custom_objects``, checks that it predicts the same, trains it further
(the constraints keep acting), and saves it again. Finally the model is
exported with ``model.export()`` and served from the SavedModel.

    python examples/save_reload_export.py [--epochs 5] [--out examples-output/save.png]
"""

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import keras
import numpy as np
from _plot import pyplot, save  # examples/_plot.py, beside this script

import keras_kernel_constraints  # noqa: F401  (registers every class with Keras)
from keras_kernel_constraints.constraints import Monotone, NonNeg, SumTo
from keras_kernel_constraints.regularizers import NonNegPenalty

RAMP = np.linspace(0.0, 1.0, 8).astype("float32")  # the filter behind the target


def build_model():
    return keras.Sequential(
        [
            keras.Input((32, 2)),
            keras.layers.Conv1D(
                4, 8, activation="relu", kernel_constraint=Monotone(min_value=0.0), name="rising"
            ),
            keras.layers.Conv1D(4, 5, kernel_constraint=SumTo(1.0), name="smooth"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(
                1,
                kernel_constraint=NonNeg(),
                kernel_regularizer=NonNegPenalty(strength=0.01),
                name="head",
            ),
        ]
    )


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 32, 2)).astype("float32")
    windows = np.lib.stride_tricks.sliding_window_view(x[:, :, 0], len(RAMP), axis=1)
    y = np.maximum(windows @ RAMP, 0.0).mean(axis=1, keepdims=True)
    return x, y.astype("float32")


def feasibility(model):
    """How far each constrained kernel is from its set (0 = exactly inside)."""
    smooth = keras.ops.convert_to_numpy(model.get_layer("smooth").kernel)
    rising = keras.ops.convert_to_numpy(model.get_layer("rising").kernel)
    head = keras.ops.convert_to_numpy(model.get_layer("head").kernel)
    return {
        "SumTo: max |filter sum - 1|": float(np.abs(smooth.sum(axis=(0, 1)) - 1.0).max()),
        "Monotone: worst decrease": float(max(0.0, -np.diff(rising, axis=0).min())),
        "Monotone: most negative tap": float(max(0.0, -rising.min())),
        "NonNeg: most negative weight": float(max(0.0, -head.min())),
    }


def child(path, epochs):
    """Runs in the new process: load, compare, train on, save again."""
    model = keras.saving.load_model(path, safe_mode=True)
    x, _ = data()
    before = np.load(path + ".predictions.npy")
    loaded_difference = float(np.abs(model.predict(x, verbose=0) - before).max())
    kinds = sorted({type(w.constraint).__name__ for w in model.weights if w.constraint})
    model.fit(*data(seed=1), epochs=epochs, verbose=0)
    model.save(path)
    print(
        json.dumps(
            {
                "constraints": kinds,
                "prediction_difference": loaded_difference,
                "feasibility": feasibility(model),
            }
        )
    )


def can_export_saved_model():
    backend = keras.backend.backend()
    return backend in ("tensorflow", "jax") and importlib.util.find_spec("tensorflow") is not None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="examples-output/save.png")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the new process's job
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.epochs)

    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=True)
    x, y = data()
    history = model.fit(x, y, epochs=args.epochs, verbose=0)
    print(f"trained {args.epochs} epochs, loss {history.history['loss'][-1]:.4f}")

    folder = pathlib.Path(tempfile.mkdtemp(prefix="kkc-example-"))
    path = str(folder / "model.keras")
    model.save(path)
    np.save(path + ".predictions.npy", model.predict(x, verbose=0))
    kernels_before = keras.ops.convert_to_numpy(model.get_layer("rising").kernel)[:, 0, :]

    # A new interpreter: nothing of this process (registrations included) is there.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", path, "--epochs", str(args.epochs)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"reloaded in a new process with safe_mode=True: constraints "
        f"{', '.join(report['constraints'])}"
    )
    print(f"max prediction difference after reload: {report['prediction_difference']:.2e}")
    print(f"after {args.epochs} more epochs in the new process:")
    for name, value in report["feasibility"].items():
        print(f"  {name}: {value:.2e}")

    reloaded = keras.saving.load_model(path)
    if can_export_saved_model():
        exported = folder / "exported"
        reloaded.export(str(exported), verbose=False)
        import tensorflow as tf

        server = tf.saved_model.load(str(exported))  # keep it alive while it serves
        served = server.serve(tf.constant(x)).numpy()
        export_difference = float(np.abs(served - reloaded.predict(x, verbose=0)).max())
        print(
            f"exported SavedModel serves the reloaded model's predictions: "
            f"max difference {export_difference:.2e}"
        )
    else:
        print(
            f"export skipped: model.export() writes a TensorFlow SavedModel, which Keras "
            f"{keras.__version__} does on TensorFlow, and on JAX with tensorflow installed; "
            f"this run uses {keras.backend.backend()}"
        )
    kernels_after = keras.ops.convert_to_numpy(reloaded.get_layer("rising").kernel)[:, 0, :]
    rise = float((kernels_after[-1] - kernels_after[0]).max())
    print(f"largest rise over the 8 taps of a Monotone filter: {rise:.3f}")

    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for unit in range(kernels_before.shape[1]):
        (line,) = ax.plot(kernels_before[:, unit], "o-", markersize=3, label=f"filter {unit}")
        ax.plot(kernels_after[:, unit], "s--", markersize=3, color=line.get_color())
    ax.axhline(0.0, color="k", linewidth=0.6)
    ax.set_xlabel("tap (input channel 0)")
    ax.set_title(
        "Monotone(min_value=0.0) filters: saved (solid), reloaded and trained on (dashed)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    save(fig, args.out)


if __name__ == "__main__":
    main()
