"""Measure 5: the first training step (tracing and compiling) and eager steps, per backend.

A small FIR-style model, ``Conv1D(filters, taps)`` on a one-channel sequence,
global average pooling and ``Dense(1)``, is built once per constraint (the
constraint on the Conv1D kernel) and once unconstrained. For every Keras
backend that is installed, a child process (Keras picks its backend at
import) measures:

- **first step**: a fresh model's first ``train_on_batch``, which traces and
  compiles the step (``jit_compile=True``: XLA on TensorFlow and JAX,
  ``torch.compile`` for a few contenders on PyTorch), in interleaved rounds
  after two warm-up models, so one-time runtime start-up is not charged to
  the first contender;
- **eager steps**: ``run_eagerly=True`` on TensorFlow and JAX, the default
  (eager) step on PyTorch, timed interleaved after warm-up;
- **project_now**: the first call of ``training.project_now`` on a model with
  two Monotone Conv1D kernels, in the child's first use of those shapes
  (on JAX, outside ``fit``, every new shape is compiled).

    python -m benchmarks.first_step [--smoke]
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

TITLE = "First training step"
EAGER_TITLE = "Eager training step"
BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

# Targets from issue 13: compiling Monotone into the step costs at most
# 0.5 s more (TensorFlow, JAX); an eager PyTorch step at most 1.5 times the
# unconstrained one; project_now on two Monotone kernels on JAX within 1 s.
COMPILE_EXTRA_S = 0.5
TORCH_EAGER_RATIO = 1.5
PROJECT_NOW_S = 1.0
MONOTONE = "Monotone()"


def contenders():
    """``{label: constraint or None}``: every constraint of the package, Keras's NonNeg."""
    import keras

    from keras_kernel_constraints import constraints as kc

    return {
        "unconstrained": None,
        "NonNeg()": kc.NonNeg(),
        "Box(-0.1, 0.1)": kc.Box(-0.1, 0.1),
        "SumTo(1.0)": kc.SumTo(1.0),
        "L2Ball(1.0)": kc.L2Ball(1.0),
        "UnitSphere(1.0)": kc.UnitSphere(1.0),
        "NormBand(0.5, 1.0)": kc.NormBand(0.5, 1.0),
        "L1Ball(1.0)": kc.L1Ball(1.0),
        "LinfBall(0.1)": kc.LinfBall(0.1),
        "Simplex(1.0)": kc.Simplex(1.0),
        "CappedSimplex(1.0, 0.0, 0.5)": kc.CappedSimplex(1.0, 0.0, 0.5),
        MONOTONE: kc.Monotone(),
        "keras NonNeg()": keras.constraints.NonNeg(),
    }


def build_model(constraint, sizes, *, jit_compile, run_eagerly=False, layers=1):
    import keras

    keras.utils.set_random_seed(0)
    stack = [keras.Input((sizes["length"], 1))]
    for _ in range(layers):
        stack.append(
            keras.layers.Conv1D(sizes["filters"], sizes["taps"], kernel_constraint=constraint)
        )
    stack += [keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)]
    model = keras.Sequential(stack)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="mse",
        jit_compile=jit_compile,
        run_eagerly=run_eagerly,
    )
    return model


def measure_backend(sizes: dict) -> dict:
    """Runs in the child process, on the backend Keras was imported with."""
    import keras
    import numpy as np

    from benchmarks import _timing
    from keras_kernel_constraints import constraints as kc
    from keras_kernel_constraints.training import project_now

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(sizes["batch"], sizes["length"], 1)).astype("float32")
    y = rng.normal(size=(sizes["batch"], 1)).astype("float32")
    # jit_compile=True is XLA on TensorFlow and JAX, torch.compile on PyTorch,
    # whose compile takes tens of seconds per model: a few contenders only.
    compiled = backend != "torch" or sizes["torch_compile"]

    # project_now first, while the child has seen no Monotone shape yet.
    two = build_model(kc.Monotone(), sizes, jit_compile=False, layers=2)
    start = time.perf_counter()
    project_now(two)
    project_first = time.perf_counter() - start
    start = time.perf_counter()
    project_now(two)
    project_again = time.perf_counter() - start

    labels = contenders()
    first_labels = labels
    if backend == "torch" and compiled:
        first_labels = {k: labels[k] for k in ("unconstrained", "NonNeg()", "SumTo(1.0)", MONOTONE)}

    def first_step(constraint):
        model = build_model(constraint, sizes, jit_compile=compiled)
        start = time.perf_counter()
        model.train_on_batch(x, y)
        return time.perf_counter() - start

    for _ in range(2):  # runtime start-up, charged to no contender
        first_step(None)
    samples = {label: [] for label in first_labels}
    order = list(first_labels.items())
    rounds = 1 if backend == "torch" and compiled else sizes["rounds"]
    for round_ in range(rounds):
        # Each round starts with a different contender: no one is always first.
        shift = round_ % len(order)
        for label, constraint in order[shift:] + order[:shift]:
            samples[label].append(first_step(constraint))
    first = {label: _summary(s) for label, s in samples.items()}

    steps = {}
    for label, constraint in labels.items():
        model = build_model(constraint, sizes, jit_compile=False, run_eagerly=backend != "torch")

        def step(model=model):
            model.train_on_batch(x, y)

        steps[label] = step
    eager = _timing.interleaved(steps, repeats=sizes["repeats"], warmup=2)
    return {
        "backend": backend,
        "first": first,
        "eager": eager,
        "project_now": {"first": project_first, "again": project_again},
        "compiled": compiled,
        "rounds": rounds,
    }


def _summary(samples):
    import statistics

    return {"min": min(samples), "median": statistics.median(samples)}


def run(sizes: dict, placement) -> list[dict]:
    """One child process per installed backend; two tables per backend."""
    measures = []
    for backend, name in BACKENDS.items():
        if importlib.util.find_spec(MODULES[backend]) is None:
            print(f"   {name}: not installed, skipped", flush=True)
            continue
        if placement.device != "cpu" and backend == "torch":
            print(f"   {name}: --device {placement.device} is not measured here", flush=True)
            continue
        print(f"   {name} (child process) ...", flush=True)
        result = _child(backend, sizes)
        if result is None:
            continue
        measures += _tables(result, name, sizes, placement)
    return measures


def _child(backend, sizes):
    with tempfile.TemporaryDirectory(prefix="kkc-first-step-") as out:
        path = pathlib.Path(out) / "result.json"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.first_step", "--child", json.dumps(sizes)]
            + [str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0:
            print(f"   skipped: the {backend} child process failed:\n{done.stderr[-2000:]}")
            return None
        return json.loads(path.read_text())


def _tables(result, name, sizes, placement):
    from benchmarks import _timing

    model = (
        f"Conv1D({sizes['filters']}, {sizes['taps']}) on sequences of {sizes['length']} "
        f"(one channel) + GlobalAveragePooling1D + Dense(1), batch {sizes['batch']}, Adam, "
        f"{placement.describe()}"
    )
    first, eager = result["first"], result["eager"]
    base_first, base_eager = first["unconstrained"], eager["unconstrained"]
    first_rows, eager_rows = [], []
    for label in first:
        extra = {k: first[label][k] - base_first[k] for k in ("min", "median")}
        row = {
            "contender": label,
            **first[label],
            "ratio": _timing.ratio(first[label], base_first),
            "extra_ms": extra["min"] * 1e3,
            "target": None,
        }
        if label == MONOTONE and result["backend"] != "torch":
            row["judged"] = {**extra, "unit": "s", "what": "extra first-step time"}
            row["target"] = COMPILE_EXTRA_S
        first_rows.append(row)
    for label in eager:
        row = {
            "contender": label,
            **eager[label],
            "ratio": _timing.ratio(eager[label], base_eager),
            "extra_ms": (eager[label]["min"] - base_eager["min"]) * 1e3,
            "target": None,
        }
        if label == MONOTONE and result["backend"] == "torch":
            row["target"] = TORCH_EAGER_RATIO
        eager_rows.append(row)
    project = result["project_now"]
    first_rows.append(
        {
            "contender": "project_now, two Monotone kernels: first call (second call)",
            "min": project["first"],
            "median": project["again"],
            "ratio": None,
            "extra_ms": None,
            "target": PROJECT_NOW_S if result["backend"] == "jax" else None,
            "judged": {
                "min": project["first"],
                "median": project["first"],
                "unit": "s",
                "what": "first call",
            },
        }
    )
    if result["backend"] != "torch":
        step_kind, eager_kind = "jit_compile=True (XLA)", "run_eagerly=True"
    else:
        eager_kind = "PyTorch's default eager step"
        step_kind = "jit_compile=True (torch.compile)" if result["compiled"] else eager_kind
    return [
        {
            "title": f"{TITLE}, Keras on {name}",
            "setup": (
                f"{model}; {step_kind}; a fresh model's first train_on_batch (trace, compile "
                f"and one step), {result['rounds']} interleaved round(s) after two warm-up models; "
                f"the last row times project_now on a fresh two-layer Monotone model (its "
                f"'min' column is the first call, 'median' the second)"
            ),
            "rows": first_rows,
        },
        {
            "title": f"{EAGER_TITLE}, Keras on {name}",
            "setup": f"{model}; {eager_kind}; {sizes['repeats']} interleaved rounds",
            "rows": eager_rows,
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sizes = json.loads(sys.argv[2])
        pathlib.Path(sys.argv[3]).write_text(json.dumps(measure_backend(sizes)))
    else:
        from benchmarks.__main__ import main

        main(["--only", "first_step", *sys.argv[1:]])
