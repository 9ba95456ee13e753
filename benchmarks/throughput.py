"""Measure 2: projection throughput on one batch, ours vs the anchors users would pick.

Every set projects the same float32 batch of ``rows`` groups of ``n`` entries
(groups along the last axis). Ours runs compiled the way ``jit_compile=True``
compiles it on the active Keras backend (``tf.function`` with XLA, or
``jax.jit``), and Keras's built-in constraints the same way; optax under
``jax.jit`` (with ``jax.vmap`` over rows where it projects one vector);
scipy and scikit-learn in a Python loop over rows on the host. Each anchor's result is checked
against ours first, so every ratio compares the same set. Target: ours at
least as fast as the fastest anchor (ratio <= 1).

    python -m benchmarks.throughput [--smoke] [--device cpu|gpu]
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable

from benchmarks import _timing

TITLE = "Projection throughput"
TARGET = 1.0


@dataclasses.dataclass
class Anchor:
    label: str
    module: str  # what must be importable for this anchor
    build: Callable  # (data, placement) -> Runner or None
    atol: float = 1e-5


@dataclasses.dataclass
class ProjectionSet:
    label: str
    ours: Callable  # keras.ops function of one batch tensor
    anchors: list
    data: str = "normal"  # or "trend": noisy upward rows, for isotonic regression
    target: float | None = TARGET  # None: reported without a target


def _keras(constraint_factory):
    def build(data, placement):
        return _timing.keras_jit(constraint_factory(), data, placement)

    return build


def _optax(name, *args, vmap=True):
    def build(data, placement):
        import optax

        fn = getattr(optax.projections, name)
        return _timing.jax_jit(lambda v: fn(v, *args), data, placement, vmap=vmap)

    return build


def _optax_hyperplane(value):
    def build(data, placement):
        import jax.numpy as jnp
        import optax

        ones = jnp.ones(data.shape[-1], data.dtype)
        return _timing.jax_jit(
            lambda v: optax.projections.projection_hyperplane(v, ones, value),
            data,
            placement,
            vmap=True,
        )

    return build


def _scipy_isotonic(data, placement):
    from scipy.optimize import isotonic_regression

    return _timing.host_rows(lambda row: isotonic_regression(row).x, data)


def _sklearn_isotonic(data, placement):
    from sklearn.isotonic import isotonic_regression

    return _timing.host_rows(isotonic_regression, data)


def _scipy_nnls_convex(data, placement):
    """The dual of the convex projection, x = y + D^T lambda with lambda >= 0
    minimising |D^T lambda + y|, by scipy's NNLS row by row."""
    import numpy as np
    from scipy.optimize import nnls

    n = data.shape[-1]
    d = np.zeros((n - 2, n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)

    def project(row):
        y = row.astype(np.float64)
        return (y + d.T @ nnls(d.T, -y, maxiter=50 * n)[0]).astype(row.dtype)

    return _timing.host_rows(project, data)


def projection_sets():
    import keras

    from keras_kernel_constraints import projections as kp

    return [
        ProjectionSet(
            "NonNeg",
            kp.project_non_negative,
            [
                Anchor("Keras NonNeg", "keras", _keras(keras.constraints.NonNeg)),
                Anchor(
                    "optax projection_non_negative",
                    "optax",
                    _optax("projection_non_negative", vmap=False),
                ),
            ],
        ),
        ProjectionSet(
            "Box(-0.5, 0.5)",
            lambda x: kp.project_box(x, -0.5, 0.5),
            [
                Anchor(
                    "optax projection_box", "optax", _optax("projection_box", -0.5, 0.5, vmap=False)
                ),
            ],
        ),
        ProjectionSet(
            "LinfBall(0.5)",
            lambda x: kp.project_linf_ball(x, 0.5),
            [
                Anchor(
                    "optax projection_linf_ball",
                    "optax",
                    _optax("projection_linf_ball", 0.5, vmap=False),
                ),
            ],
        ),
        ProjectionSet(
            "SumTo(1.0)",
            lambda x: kp.project_sum_to(x, 1.0, axis=-1),
            [
                Anchor("optax projection_hyperplane (vmap)", "optax", _optax_hyperplane(1.0)),
            ],
        ),
        ProjectionSet(
            "Simplex(1.0)",
            lambda x: kp.project_simplex(x, 1.0, axis=-1),
            [
                Anchor(
                    "optax projection_simplex (vmap)", "optax", _optax("projection_simplex", 1.0)
                ),
            ],
        ),
        ProjectionSet(
            "CappedSimplex(1.0, 0.0, 0.5)",
            lambda x: kp.project_capped_simplex(x, 1.0, 0.0, 0.5, axis=-1),
            [],
        ),
        ProjectionSet(
            "L1Ball(1.0)",
            lambda x: kp.project_l1_ball(x, 1.0, axis=-1),
            [
                Anchor(
                    "optax projection_l1_ball (vmap)", "optax", _optax("projection_l1_ball", 1.0)
                ),
            ],
        ),
        ProjectionSet(
            "L2Ball(1.0)",
            lambda x: kp.project_l2_ball(x, 1.0, axis=-1),
            [
                Anchor(
                    "Keras MaxNorm", "keras", _keras(lambda: keras.constraints.MaxNorm(1.0, -1))
                ),
                Anchor(
                    "optax projection_l2_ball (vmap)", "optax", _optax("projection_l2_ball", 1.0)
                ),
            ],
        ),
        ProjectionSet(
            "UnitSphere(1.0)",
            lambda x: kp.project_l2_sphere(x, 1.0, axis=-1),
            [
                Anchor("Keras UnitNorm", "keras", _keras(lambda: keras.constraints.UnitNorm(-1))),
                Anchor(
                    "optax projection_l2_sphere (vmap)",
                    "optax",
                    _optax("projection_l2_sphere", 1.0),
                ),
            ],
        ),
        ProjectionSet(
            "NormBand(0.5, 1.0)",
            lambda x: kp.project_norm_band(x, 0.5, 1.0, axis=-1),
            [
                Anchor(
                    "Keras MinMaxNorm(rate=1)",
                    "keras",
                    _keras(lambda: keras.constraints.MinMaxNorm(0.5, 1.0, 1.0, -1)),
                ),
            ],
        ),
        ProjectionSet(
            "Monotone()",
            lambda x: kp.project_monotone(x, axis=-1),
            [
                Anchor("scipy isotonic_regression (host loop)", "scipy", _scipy_isotonic),
                Anchor(
                    "scikit-learn isotonic_regression (host loop)", "sklearn", _sklearn_isotonic
                ),
            ],
            data="trend",
        ),
        # Issue 17 sets no throughput target: the active set runs until the
        # slowest row of the batch is done, on noise (the hardest rows).
        ProjectionSet(
            "Convex()",
            lambda x: kp.project_convex(x, axis=-1),
            [Anchor("scipy nnls on the dual (host loop)", "scipy", _scipy_nnls_convex)],
            target=None,
        ),
    ]


def batch(rows, n, kind="normal", seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, n))
    if kind == "trend":  # many pooled blocks of every size
        data = data + np.linspace(0.0, 3.0, n)
    return data.astype("float32")


def compare(ours: Callable, anchors: list, data, placement, repeats, tolerance_scale=1.0):
    """Time ours and every installed anchor on ``data``; rows of results, ours first.

    Anchors whose library is missing (or has no such device) get a row with
    ``"skipped"`` instead of times. Raises ``AssertionError`` if an anchor's
    result differs from ours.
    """
    import numpy as np

    runners = {"ours": _timing.keras_jit(ours, data, placement)}
    reference = runners["ours"].value()
    skipped = {}
    for anchor in anchors:
        if importlib.util.find_spec(anchor.module) is None:
            skipped[anchor.label] = f"{anchor.module} not installed"
            continue
        runner = anchor.build(data, placement)
        if runner is None:
            skipped[anchor.label] = f"no {placement.device} device for {anchor.module}"
            continue
        np.testing.assert_allclose(
            runner.value(),
            reference,
            rtol=0,
            atol=anchor.atol * tolerance_scale,
            err_msg=f"{anchor.label} disagrees with ours",
        )
        runners[anchor.label] = runner
    times = _timing.interleaved({k: r.run for k, r in runners.items()}, repeats=repeats, warmup=1)
    rows = [
        {"contender": label, **t, "first_call_s": runners[label].first_call_s}
        for label, t in times.items()
    ]
    rows += [{"contender": label, "skipped": why} for label, why in skipped.items()]
    return rows


def run(sizes: dict, placement: _timing.Placement) -> dict:
    rows_n, n = sizes["rows"], sizes["n"]
    results = []
    sets = projection_sets()
    # One batch per kind of data, shared by every set that uses it.
    batches = {kind: batch(rows_n, n, kind) for kind in {s.data for s in sets}}
    for projection_set in sets:
        rows = compare(
            projection_set.ours,
            projection_set.anchors,
            batches[projection_set.data],
            placement,
            sizes["repeats"],
        )
        ours = rows[0]
        timed = [r for r in rows[1:] if "skipped" not in r]
        fastest = min(timed, key=lambda r: r["min"]) if timed else None
        for r in timed:
            r["ratio"] = _timing.ratio(ours, r)
        results.append(
            {
                "set": projection_set.label,
                "rows": rows,
                "fastest_anchor": fastest["contender"] if fastest else None,
                "ratio": _timing.ratio(ours, fastest) if fastest else None,
                "target": projection_set.target if fastest else None,
            }
        )
    return {
        "title": TITLE,
        "setup": (
            f"{rows_n} groups x {n} entries, float32, groups along the last axis, "
            f"{placement.describe()}, {sizes['repeats']} interleaved rounds"
        ),
        "sets": results,
    }


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import main

    main(["--only", "throughput", *sys.argv[1:]])
