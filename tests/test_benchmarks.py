"""The benchmark harness runs end to end in smoke mode; its helpers compute what
they claim. No speed is asserted anywhere: benchmarks are scripts."""

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import first_step, report, scaling

pytestmark = pytest.mark.slow  # the benchmark smoke run

ROOT = pathlib.Path(__file__).resolve().parent.parent


BACKEND = keras.backend.backend()
# The harness compiles its contenders with XLA (tf.function or jax.jit);
# its first_step measure covers PyTorch from a child process.
xla_backend = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="the benchmark harness runs on TensorFlow or JAX (it times XLA-compiled calls)",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One ``python -m benchmarks --smoke`` run in a fresh process, on this run's backend."""
    if BACKEND not in ("tensorflow", "jax"):
        pytest.skip("the benchmark harness runs on TensorFlow or JAX (it times XLA-compiled calls)")
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, json.loads((out / "benchmarks.json").read_text()), done.stdout


def _positive(t):
    return math.isfinite(t["min"]) and t["min"] > 0 and t["median"] >= t["min"]


def test_smoke_header_names_machine_and_library_versions(smoke):
    _, results, stdout = smoke
    assert results["smoke"] and results["backend"] == BACKEND and results["device"] == "CPU"
    for library in ("keras", "numpy"):
        assert f"{library} {results['versions'][library]}" in stdout.splitlines()[0]


def test_smoke_runs_every_measure_and_every_figure_is_a_number(smoke):
    _, results, _ = smoke
    by_title = {m["title"]: m for m in results["measures"]}
    titles = [m.TITLE for m in bench_main.MEASURES.values() if m is not first_step]
    for backend, name in first_step.BACKENDS.items():  # two tables per installed backend
        if importlib.util.find_spec(first_step.MODULES[backend]):
            titles += [f"{first_step.TITLE}, Keras on {name}"]
            titles += [f"{first_step.EAGER_TITLE}, Keras on {name}"]
    if BACKEND == "tensorflow" and importlib.util.find_spec("jax"):
        titles.append("Projection throughput, Keras on JAX")  # the same measure, on JAX
    assert list(by_title) == titles

    for title, measure in by_title.items():
        if not title.startswith((first_step.TITLE, first_step.EAGER_TITLE)):
            continue
        labels = [row["contender"] for row in measure["rows"]]
        assert labels[0] == "unconstrained" and "Monotone()" in labels
        for row in measure["rows"]:
            if row["contender"].startswith("project_now"):  # first call, then second call
                assert row["min"] > 0 and row["median"] > 0
            else:
                assert _positive(row)

    training = by_title["Training overhead"]["rows"]
    assert training[0]["contender"] == "unconstrained"
    # Every constraint of the package is in the training measure.
    from keras_kernel_constraints.constraints import ALL_CONSTRAINTS

    labels = " ".join(r["contender"] for r in training)
    assert all(cls.__name__ + "(" in labels for cls in ALL_CONSTRAINTS)
    # Every map is in the parametrization measure, after its projection.
    from keras_kernel_constraints.parametrizations import ALL_MAPS

    parametrized = by_title["Parametrization overhead"]["rows"]
    labels = [r["contender"] for r in parametrized]
    assert all(f"parametrized {cls.__name__}(" in " ".join(labels) for cls in ALL_MAPS)
    for row in training + parametrized + by_title["Memory-bound floor"]["rows"]:
        assert _positive(row) and row["ratio"]["min"] > 0
    # Each wrapped net is divided by its own set's projection-alone net.
    wrapper = {r["contender"]: r for r in by_title["Optimizer wrapper overhead"]["rows"]}
    wrapped = [label for label in wrapper if label.startswith("Projected(Adam), ")]
    assert wrapped
    for label in wrapped:
        alone = wrapper["projection " + label.split(", ", 1)[1]]
        row = wrapper[label]
        assert row["ratio"]["min"] == pytest.approx(row["min"] / alone["min"])

    throughput = [m for title, m in by_title.items() if title.startswith("Projection throughput")]
    for s in (s for m in throughput for s in m["sets"]):
        ours, *anchors = s["rows"]
        assert ours["contender"] == "ours" and _positive(ours)
        for row in anchors:
            if "skipped" in row:  # only a missing library may skip an anchor
                assert row["skipped"].endswith("not installed")
            else:
                assert _positive(row) and row["ratio"]["min"] > 0
        if s["ratio"] is not None:
            assert s["ratio"]["min"] == pytest.approx(
                ours["min"] / min(r["min"] for r in anchors if "skipped" not in r)
            )

    sweeps = by_title["Scaling"]["sweeps"]
    assert {(s["family"], s["sweep"]) for s in sweeps} == {
        (f, w) for f in ("simplex", "monotone") for w in ("length", "groups")
    }
    for sweep in sweeps:
        ours = sweep["curves"]["ours"]
        assert len(ours["min"]) == len(sweep["sizes"]) and all(t > 0 for t in ours["min"])
        assert ours["exponent"] is not None and math.isfinite(ours["exponent"])


def test_smoke_writes_the_page_and_plots(smoke):
    out, results, _ = smoke
    page = (out / "benchmarks.md").read_text()
    assert "smoke mode" in page and "## Summary" in page
    for measure in results["measures"]:
        assert f"## {measure['title']}" in page
    if importlib.util.find_spec("matplotlib"):
        images = sorted(p.name for p in (out / "img").glob("*.png"))
        expected = [
            "training_overhead.png",
            "parametrization_overhead.png",
            "optimizer_wrapper_overhead.png",
            "projection_throughput.png",
            "memory-bound_floor.png",
            "scaling_length.png",
            "scaling_groups.png",
            "matrix_projections.png",
            "dense_training_step_matrix_sets.png",
        ]
        if BACKEND == "tensorflow" and importlib.util.find_spec("jax"):
            expected.append("projection_throughput_keras_on_jax.png")
        for name in first_step.BACKENDS.values():
            if any(m["title"].endswith(f"Keras on {name}") for m in results["measures"]):
                expected += [
                    f"first_training_step_keras_on_{name.lower()}.png",
                    f"eager_training_step_keras_on_{name.lower()}.png",
                ]
        assert images == sorted(expected)
        for name in images:
            assert f"](img/{name})" in page


@xla_backend
def test_anchors_are_checked_against_ours_before_timing():
    """A contender that computes something else fails the run, not the ratio."""
    import numpy as np

    from benchmarks import _timing
    from benchmarks.throughput import Anchor, compare

    def wrong(data, placement):
        return _timing.host_rows(lambda row: row * 2.0, data)

    data = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    with pytest.raises(AssertionError, match="disagrees with ours"):
        compare(
            lambda x: x,
            [Anchor("wrong", "numpy", wrong)],
            data,
            _timing.Placement("cpu"),
            repeats=1,
        )


@xla_backend
def test_gpu_request_without_a_gpu_fails_clearly():
    from benchmarks import _timing

    if BACKEND == "jax":
        import jax

        visible = any(d.platform == "gpu" for d in jax.devices())
    else:
        import tensorflow as tf

        visible = bool(tf.config.list_physical_devices("GPU"))
    if visible:
        pytest.skip("a GPU is visible")
    with pytest.raises(SystemExit, match="sees no GPU"):
        _timing.Placement("gpu")


def test_exponent_is_the_log_log_slope_of_the_largest_sizes():
    sizes = [10, 100, 1_000, 10_000, 100_000]
    # A fixed cost dominates the small sizes; the fit must ignore them.
    assert scaling.exponent(
        sizes, [1.0 + 0 * n for n in sizes[:2]] + [1e-6 * n for n in sizes[2:]]
    ) == pytest.approx(1.0)
    assert scaling.exponent(sizes, [3e-9 * n**2 for n in sizes]) == pytest.approx(2.0)


def test_misses_name_only_the_figures_over_their_target():
    results = {
        "measures": [
            {
                "title": "Training overhead",
                "rows": [
                    {
                        "contender": "NonNeg()",
                        "ratio": {"min": 1.01, "median": 1.2},
                        "target": 1.03,
                    },
                    {
                        "contender": "Simplex(1.0)",
                        "ratio": {"min": 1.2, "median": 1.2},
                        "target": 1.1,
                    },
                    {
                        "contender": "keras NonNeg()",
                        "ratio": {"min": 9.0, "median": 9.0},
                        "target": None,
                    },
                ],
            },
        ]
    }
    missed = report.misses(results)
    assert [(title, item) for title, item, *_ in missed] == [("Training overhead", "Simplex(1.0)")]
    assert "bisection" in missed[0][-1]  # the explanation travels with the miss


def test_only_a_full_run_writes_into_docs(tmp_path):
    assert bench_main.parse([]).out == bench_main.DOCS
    for argv in (["--smoke"], ["--only", "floor"]):
        assert bench_main.parse(argv).out is None  # main() makes a temporary folder
    assert bench_main.parse(["--out", str(tmp_path)]).out == tmp_path
    with pytest.raises(SystemExit):
        bench_main.parse(["--only", "nonsense"])


def test_a_failing_jax_child_drops_its_table_instead_of_the_run(monkeypatch, capsys):
    """--device gpu with a CPU-only JAX: the TensorFlow results still get written."""

    def failing_run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stderr="SystemExit: no GPU")

    monkeypatch.setattr(bench_main.subprocess, "run", failing_run)
    args = bench_main.parse(["--smoke", "--device", "gpu"])
    assert bench_main._throughput_on_jax(args) is None
    assert "no GPU" in capsys.readouterr().out
