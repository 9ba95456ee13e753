"""Shared test helpers: dtype tolerances, a jit wrapper, a subprocess runner.

Tolerances (stated once, used everywhere). ``eps`` is the dtype's machine
epsilon; ``scale`` the largest magnitude involved (at least 1):

========  ==========  ==========================================
dtype     eps         |sum(P(w)_g) - s| allowed for a group of n
========  ==========  ==========================================
float64   2.2e-16     n * eps * scale
float32   1.2e-7      n * eps * scale   (<= 1e-6 * n for |w| <= 8)
float16   9.8e-4      n * eps * scale   (sums accumulate in float32)
bfloat16  7.8e-3      n * eps * scale   (sums accumulate in float32)
========  ==========  ==========================================

Elementwise projections (NonNeg, Box) are exact in every dtype.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import ml_dtypes
import numpy as np
import pytest

from keras_kernel_constraints.sets import Set

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

EPS = {
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float64": float(np.finfo(np.float64).eps),
}


def np_dtype(dtype: str):
    return ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)


def to_numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def as_f64(x) -> np.ndarray:
    return to_numpy(x).astype(np.float64)


def _float64_available() -> bool:
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


FLOAT64 = _float64_available()
"""False on JAX in its default configuration, which turns float64 into float32."""

NO_FLOAT64 = "JAX without x64 makes no float64 tensors (JAX_ENABLE_X64=1 runs this case)"

needs_float64 = pytest.mark.skipif(not FLOAT64, reason=NO_FLOAT64)


def keras_at_least(major: int, minor: int) -> bool:
    return tuple(int(p) for p in keras.__version__.split(".")[:2]) >= (major, minor)


needs_keras_3_4 = pytest.mark.skipif(
    not keras_at_least(3, 4),
    reason=f"parametrizations need Keras >= 3.4; this is Keras {keras.__version__}",
)


def tensor(array, dtype: str):
    """``array`` as a tensor of ``dtype``; skips the test where the backend cannot make it."""
    if dtype == "float64" and not FLOAT64:
        pytest.skip(NO_FLOAT64)
    return keras.ops.convert_to_tensor(np.asarray(array).astype(np_dtype(dtype)), dtype=dtype)


def sum_tolerance(dtype: str, n: int, scale: float) -> float:
    return n * EPS[dtype] * max(1.0, scale)


def jit(fn):
    """Compile ``fn`` with XLA on the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no XLA jit for backend {backend}")


_COMPILED: dict = {}


def applied(obj, *, tensorflow_graph: bool = False):
    """A constraint (or a set's ``project``) as a callable, compiled where eager is slow.

    On JAX, one ``jax.jit`` per configuration: eager JAX compiles every
    ``while_loop`` afresh at each call and every operation for every new shape
    (about 2 s for a small ``DoublyStochastic``); compiled, a configuration costs
    one compile per shape and then a fraction of a millisecond, which is how
    Keras's JAX trainer runs a constraint anyway. With ``tensorflow_graph``,
    TensorFlow runs it as a graph (``tf.function``): eager TensorFlow drives a
    ``while_loop`` from Python, op by op (Dykstra's 1,000 sweeps took minutes).
    Elsewhere it runs as called.
    """
    function = obj.project if isinstance(obj, Set) else obj.__call__
    backend = keras.backend.backend()
    if (backend == "tensorflow" and not tensorflow_graph) or backend == "torch":
        return function
    key = (backend, type(obj), json.dumps(obj.get_config(), sort_keys=True, default=str))
    if key not in _COMPILED:
        if backend == "jax":
            import jax

            _COMPILED[key] = jax.jit(function)
        else:
            import tensorflow as tf

            _COMPILED[key] = tf.function(function)  # a trace per shape: layouts are static
    return _COMPILED[key]


def tensorflow_only(why: str):
    """Skip mark for a test that is TensorFlow by nature; ``why`` says what it uses."""
    return pytest.mark.skipif(
        keras.backend.backend() != "tensorflow", reason=f"TensorFlow only: {why}"
    )


def gradient(fn, value: np.ndarray, *, compiled: bool = False) -> np.ndarray:
    """d fn(w) / dw at ``value`` (float64 array) with the active backend's autodiff.

    ``compiled``: under XLA (TensorFlow's ``tf.function(jit_compile=True)``,
    ``jax.jit``), whose gradients can differ from eager ones (0 * inf is
    NaN there); PyTorch runs eagerly.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def grad(w):
            with tf.GradientTape() as tape:
                tape.watch(w)
                loss = fn(w)
            return tape.gradient(loss, w)

        if compiled:
            grad = tf.function(grad, jit_compile=True)
        return grad(tf.constant(value)).numpy()
    if backend == "jax":
        import jax

        grad = jax.jit(jax.grad(fn)) if compiled else jax.grad(fn)
        return np.asarray(grad(tensor(value, str(value.dtype))))
    import torch

    w = torch.tensor(value, requires_grad=True)
    fn(w).backward()
    return w.grad.numpy()


def run_python(code: str, *args: str, timeout: float = 300) -> str:
    """Run ``code`` in a fresh interpreter; return stdout, fail with stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def assert_config_round_trips(obj, get):
    """``get_config`` is JSON, mirrors ``__init__`` and survives Keras serialization."""
    config = obj.get_config()
    restored = type(obj).from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    assert restored == obj and hash(restored) == hash(obj)
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"] == f"keras_kernel_constraints>{type(obj).__name__}"
    assert keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized))) == obj
    assert get(serialized) == obj


def defaults_warning(cls):
    """Context for building ``cls`` with its defaults: ``Box`` and ``BoxPenalty``
    warn there (their 0.1.0 default bounds are deprecated); other classes must not."""
    import contextlib
    import warnings

    if cls.__name__ in ("Box", "BoxPenalty"):
        return pytest.warns(DeprecationWarning, match="without bounds")
    context = warnings.catch_warnings()

    @contextlib.contextmanager
    def silent():
        with context:
            warnings.simplefilter("error", DeprecationWarning)
            yield

    return silent()
