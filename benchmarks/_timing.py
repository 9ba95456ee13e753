"""Timing primitives shared by every measure: placement, runners, interleaving.

Every figure the harness reports comes from :func:`interleaved`: all
contenders of one comparison are warmed up, then run in rounds, one call each
per round, so they see the same machine state (other load, clock boosts) and
their ratio is fair even on a shared machine. Min and median over the rounds
are kept; ratios are taken between contenders of the same call only.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def interleaved(callables: dict, repeats: int = 30, warmup: int = 3) -> dict:
    """Run each callable ``warmup`` times, then ``repeats`` rounds, interleaved.

    Returns ``{name: {"min": s, "median": s}}``.
    """
    for fn in callables.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in callables}
    for _ in range(repeats):
        for name, fn in callables.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: {"min": min(s), "median": statistics.median(s)} for name, s in samples.items()}


def ratio(a: dict, b: dict) -> dict:
    """``a / b`` for the min and the median of two :func:`interleaved` entries."""
    return {"min": a["min"] / b["min"], "median": a["median"] / b["median"]}


def step_rows(times: dict, block: int, targets: dict) -> list:
    """Per-step rows from :func:`interleaved` times of ``block`` steps each, for every
    ``{label: target}``; the first contender of ``times`` is the baseline."""
    base = {k: v / block for k, v in times[next(iter(times))].items()}
    rows = []
    for label, target in targets.items():
        t = {k: v / block for k, v in times[label].items()}
        rows.append(
            {
                "contender": label,
                **t,
                "ratio": ratio(t, base),
                "extra_ms": (t["min"] - base["min"]) * 1e3,
                "target": target,
            }
        )
    return rows


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_header(**versions) -> str:
    parts = [
        f"{cpu_name()} ({os.cpu_count()} logical cores, {platform.machine()})",
        f"Python {platform.python_version()}",
    ]
    parts += [f"{name} {version}" for name, version in versions.items() if version]
    return " | ".join(parts)


class Placement:
    """Where the compiled contenders run: ``"cpu"`` (default) or ``"gpu"``.

    Keras code (ours, Keras's built-ins, the training measure) runs on the
    active Keras backend, TensorFlow or JAX, on that device; optax on JAX on
    that device; NumPy-based anchors (scipy, scikit-learn) always run on the
    host, and say so in their name.
    """

    def __init__(self, device: str = "cpu"):
        import keras

        if device not in ("cpu", "gpu"):
            raise ValueError(f"`device` must be 'cpu' or 'gpu', got {device!r}")
        self.device = device
        self.backend = keras.backend.backend()
        if self.backend not in ("tensorflow", "jax"):
            raise SystemExit(
                f"benchmarks compile with XLA: run them with KERAS_BACKEND="
                f"tensorflow or jax, not {self.backend!r}"
            )
        if device == "gpu" and not self._has_gpu():
            raise SystemExit(
                f"--device gpu: the {self.backend} backend sees no GPU. Install GPU builds "
                '(pip install -e ".[tf,bench]" "jax[cuda12]") on a machine with a GPU.'
            )
        self.tf_device = "/GPU:0" if device == "gpu" else "/CPU:0"

    def _has_gpu(self):
        if self.backend == "jax":
            return self.jax_device() is not None
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))

    def jax_device(self):
        """The JAX device to use, or ``None`` when JAX has no such platform."""
        import jax

        try:
            return jax.devices(self.device)[0]
        except RuntimeError:
            return None

    def scope(self):
        """Context in which Keras creates and runs tensors on this device."""
        if self.backend == "jax":
            import jax

            return jax.default_device(self.jax_device())
        import tensorflow as tf

        return tf.device(self.tf_device)

    def describe(self) -> str:
        if self.device == "cpu":
            return "CPU"
        if self.backend == "jax":
            return f"GPU ({self.jax_device().device_kind})"
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )
        return f"GPU ({details.get('device_name', 'unknown')})"


@dataclasses.dataclass
class Runner:
    """A contender ready to time: ``run()`` computes and waits for the result."""

    run: Callable[[], object]
    value: Callable[[], np.ndarray]
    first_call_s: float = 0.0  # the first call: tracing, compiling and one run


def _first_call(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def tf_jit(fn, data: np.ndarray, placement: Placement, *extra: np.ndarray) -> Runner:
    """``fn(x, *extra)`` on TensorFlow tensors, compiled with ``tf.function(jit_compile=True)``.

    ``extra`` arrays are passed as runtime arguments, so XLA cannot fold them.
    """
    import tensorflow as tf

    with tf.device(placement.tf_device):
        args = [tf.constant(a) for a in (data, *extra)]
    compiled = tf.function(fn, jit_compile=True)
    sync = placement.device == "gpu"

    def run():
        with tf.device(placement.tf_device):
            out = compiled(*args)
        if sync:  # GPU kernels run asynchronously; CPU calls return when done.
            tf.test.experimental.sync_devices()
        return out

    return Runner(run, lambda: np.asarray(run()), _first_call(run))


def jax_jit(
    fn, data: np.ndarray, placement: Placement, *extra: np.ndarray, vmap: bool = False
) -> Runner | None:
    """``fn(x, *extra)`` under ``jax.jit`` (``jax.vmap`` over rows of ``x`` first if
    asked); ``None`` when JAX has no such device."""
    import jax

    device = placement.jax_device()
    if device is None:
        return None
    args = [jax.device_put(a, device) for a in (data, *extra)]
    if vmap:
        fn = jax.vmap(fn, in_axes=(0,) + (None,) * len(extra))
    compiled = jax.jit(fn)

    def run():
        return compiled(*args).block_until_ready()

    return Runner(run, lambda: np.asarray(run()), _first_call(run))


def keras_jit(fn, data: np.ndarray, placement: Placement, *extra: np.ndarray) -> Runner:
    """Keras code ``fn(x, *extra)`` compiled the way ``jit_compile=True`` compiles
    it on the active backend: ``tf.function(jit_compile=True)`` or ``jax.jit``."""
    if placement.backend == "jax":
        return jax_jit(fn, data, placement, *extra)
    return tf_jit(fn, data, placement, *extra)


def host_rows(fn, data: np.ndarray) -> Runner:
    """A Python loop calling a NumPy-based ``fn`` on every row (host memory)."""

    def run():
        return [fn(row) for row in data]

    return Runner(run, lambda: np.stack(run()), _first_call(run))
