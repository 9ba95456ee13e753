"""Measures for the matrix sets: the projection alone, and a Dense 512x512 training step.

Projection alone: ours (compiled the way ``jit_compile=True`` compiles it)
against SciPy's polar factor (``Orthogonal``), a NumPy SVD with clipped
singular values (``SpectralBall``) and a NumPy ``eigh`` with clipped
eigenvalues (``PSD``), on the same float32 matrices: square Gaussian
matrices scaled by 1/sqrt(n) (largest singular value about 2, as for an
initialised kernel), a conv kernel 3x3x64x128 read as one 576x128 matrix,
and the same kernel's 9 per-tap 64x128 matrices (``batch_axis=(0, 1)``).
Each comparison checks that the anchor agrees with ours first. The first
call of ours (tracing and XLA compilation) is in each row's label.

Training step: Dense(512) -> Dense(512) -> Dense(10) on batch 64, each
512x512 kernel constrained (Orthogonal, SpectralBall, PSD), against the same
model unconstrained.

    python -m benchmarks.matrices [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

from benchmarks import _timing
from benchmarks.throughput import Anchor, compare

TITLE = "Matrix projections"
STEP_TITLE = "Dense training step, matrix sets"


def _host(fn):
    """An anchor computed by NumPy or SciPy on the whole array (host memory)."""

    def build(data, placement):
        def run():
            return fn(data)

        return _timing.Runner(run, run, _timing._first_call(run))

    return build


def _polar(data):
    import numpy as np
    import scipy.linalg

    stack = data.reshape((-1, *data.shape[-2:]))
    return np.stack([scipy.linalg.polar(m)[0] for m in stack]).reshape(data.shape)


def _svd_clip(data):
    import numpy as np

    u, s, vt = np.linalg.svd(data, full_matrices=False)
    return (u * np.minimum(s, 1.0)[..., None, :]) @ vt


def _eigh_clip(data):
    import numpy as np

    values, vectors = np.linalg.eigh(0.5 * (data + np.swapaxes(data, -1, -2)))
    return (vectors * np.maximum(values, 0.0)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def families():
    """``{family: (set factory, anchor label, anchor module, anchor function)}``."""
    from keras_kernel_constraints import sets

    return {
        "Orthogonal": (sets.Orthogonal, "scipy.linalg.polar", "scipy", _polar),
        "SpectralBall(1)": (
            lambda **layout: sets.SpectralBall(1.0, **layout),
            "numpy SVD, clipped",
            "numpy",
            _svd_clip,
        ),
        "PSD": (sets.PSD, "numpy eigh, clipped", "numpy", _eigh_clip),
    }


def cases(sizes):
    """``(label, data, layout)``: square matrices, then a conv kernel two ways."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for n in sizes["sizes"]:
        out.append((f"{n}x{n}", (rng.normal(size=(n, n)) / np.sqrt(n)).astype("float32"), {}))
    k, cin, cout = sizes["conv"]
    kernel = (rng.normal(size=(k, k, cin, cout)) / np.sqrt(k * k * cin)).astype("float32")
    out.append((f"conv {k}x{k}x{cin}x{cout} as one matrix", kernel, {}))
    out.append((f"conv {k}x{k}x{cin}x{cout}, per tap", kernel, {"batch_axis": (0, 1)}))
    return out


def _on_matrices(fn, layout):
    """``fn`` on the matrices ``layout`` reads: the trailing two axes, stacked
    (``batch_axis`` leading), or one matrix of every axis but the last."""
    if layout:
        return fn
    return lambda data: fn(data.reshape(-1, data.shape[-1])).reshape(data.shape)


def run(sizes: dict, placement: _timing.Placement) -> dict:
    results = []
    for family, (make, label, module, fn) in families().items():
        for case, data, layout in cases(sizes):
            if family == "PSD" and data.shape[-2] != data.shape[-1]:
                continue  # square matrices only
            anchor = Anchor(label, module, _host(_on_matrices(fn, layout)), atol=1e-4)
            rows = compare(make(**layout).project, [anchor], data, placement, sizes["repeats"])
            ours = rows[0]
            timed = [r for r in rows[1:] if "skipped" not in r]
            for r in timed:
                r["ratio"] = _timing.ratio(ours, r)
            results.append(
                {
                    "set": f"{family}, {case} (first call {ours['first_call_s']:.1f} s)",
                    "rows": rows,
                    "fastest_anchor": timed[0]["contender"] if timed else None,
                    "ratio": timed[0]["ratio"] if timed else None,
                    "target": None,
                }
            )
    return {
        "title": TITLE,
        "setup": (
            f"float32, {placement.describe()}, {sizes['repeats']} interleaved rounds; the "
            "anchors run in NumPy/SciPy on the host (LAPACK), ours compiled with XLA"
        ),
        "sets": results,
    }


def step_run(sizes: dict, placement: _timing.Placement) -> dict:
    """Dense(512) -> Dense(512) -> Dense(10), each 512x512 kernel constrained."""
    import keras
    import numpy as np

    from keras_kernel_constraints import constraints

    width, batch, block = sizes["width"], sizes["batch"], sizes["steps_per_sample"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, width)).astype("float32")
    y = rng.integers(0, 10, size=(batch,))
    contenders = {
        "unconstrained": None,
        "unconstrained, second copy (control)": None,
        "Orthogonal()": constraints.Orthogonal(),
        "SpectralBall(1.0)": constraints.SpectralBall(1.0),
        "PSD()": constraints.PSD(),
    }
    steps = {}
    with placement.scope():
        for name, constraint in contenders.items():
            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.Input((width,)),
                    keras.layers.Dense(width, "relu", kernel_constraint=constraint),
                    keras.layers.Dense(width, "relu", kernel_constraint=constraint),
                    keras.layers.Dense(10),
                ]
            )
            model.compile(
                "adam", keras.losses.SparseCategoricalCrossentropy(True), jit_compile=True
            )
            model.train_on_batch(x, y)

            def train(model=model):
                for _ in range(block):
                    model.train_on_batch(x, y)

            steps[name] = train
        times = _timing.interleaved(steps, repeats=sizes["repeats"])
    rows = _timing.step_rows(times, block, dict.fromkeys(contenders))
    return {
        "title": STEP_TITLE,
        "setup": (
            f"Dense({width}) -> Dense({width}) -> Dense(10), both {width}x{width} kernels "
            f"constrained, batch {batch}, Adam, jit_compile=True, {placement.describe()}; "
            f"{sizes['repeats']} interleaved rounds of {block} steps per model"
        ),
        "rows": rows,
    }


class DenseStep:
    """The training-step measure, as ``python -m benchmarks`` runs a measure module."""

    TITLE = STEP_TITLE
    run = staticmethod(step_run)


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "matrices,dense_step", *sys.argv[1:]])
