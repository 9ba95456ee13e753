"""Run every benchmark measure and write the results page.

    python -m benchmarks                  # full run, CPU: rewrites docs/benchmarks.md, docs/img/
    python -m benchmarks --smoke          # tiny sizes, a minute: checks the harness works
    python -m benchmarks --device gpu     # the same measures on a GPU
    python -m benchmarks --only training,floor --out bench-results
    python -m benchmarks --backend jax    # Keras on JAX instead of TensorFlow
    python -m benchmarks.first_step       # one measure (each module runs alone)

Install the anchors first: ``pip install -e ".[tf-cpu,bench]"``. Anchors
that are not installed are listed as skipped. Nothing here asserts a speed:
targets are reported as met or missed.

On the TensorFlow backend with JAX installed, the throughput measure is run
a second time in a child process on Keras's JAX backend, so our code and
optax also meet under the same runtime and dispatch; both tables go on the
page.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from benchmarks import (
    _timing,
    first_step,
    floor,
    matrices,
    optimizer,
    parametrized,
    report,
    scaling,
    throughput,
    training,
)

MEASURES = {
    "training": training,
    "parametrized": parametrized,
    "optimizer": optimizer,
    "throughput": throughput,
    "floor": floor,
    "scaling": scaling,
    "matrices": matrices,
    "dense_step": matrices.DenseStep,
    "first_step": first_step,
}

FULL = {
    "training": {
        "image": 32,
        "filters": (32, 32, 64),
        "batch": 64,
        "repeats": 30,
        "steps_per_sample": 5,
    },
    "parametrized": {
        "image": 32,
        "filters": (32, 32, 64),
        "batch": 64,
        "repeats": 30,
        "steps_per_sample": 5,
    },
    "optimizer": {
        "image": 32,
        "filters": (32, 32, 64),
        "batch": 64,
        "repeats": 30,
        "steps_per_sample": 5,
    },
    "throughput": {"rows": 10_000, "n": 64, "repeats": 30},
    "floor": {"shape": (4096, 4096), "repeats": 30},
    "scaling": {
        "lengths": [16, 100, 1_000, 10_000, 100_000, 1_000_000],
        "groups": [1, 10, 100, 1_000, 10_000, 100_000],
        "n": 64,
        "repeats": 10,
    },
    "first_step": {
        "taps": 64,
        "filters": 16,
        "length": 256,
        "batch": 32,
        "rounds": 3,
        "repeats": 20,
        "torch_compile": True,
    },
    "matrices": {"sizes": [64, 128, 256, 512, 1024], "conv": (3, 64, 128), "repeats": 10},
    "dense_step": {"width": 512, "batch": 64, "repeats": 20, "steps_per_sample": 5},
}
SMOKE = {
    "training": {"image": 8, "filters": (4, 4, 8), "batch": 4, "repeats": 2, "steps_per_sample": 1},
    "parametrized": {
        "image": 8,
        "filters": (4, 4, 8),
        "batch": 4,
        "repeats": 2,
        "steps_per_sample": 1,
    },
    "optimizer": {
        "image": 8,
        "filters": (4, 4, 8),
        "batch": 4,
        "repeats": 2,
        "steps_per_sample": 1,
    },
    "throughput": {"rows": 16, "n": 8, "repeats": 2},
    "floor": {"shape": (64, 64), "repeats": 2},
    "scaling": {"lengths": [16, 64, 256], "groups": [1, 4, 16], "n": 8, "repeats": 2},
    "first_step": {
        "taps": 8,
        "filters": 2,
        "length": 16,
        "batch": 4,
        "rounds": 1,
        "repeats": 2,
        "torch_compile": False,
    },
    "matrices": {"sizes": [8, 16], "conv": (3, 4, 6), "repeats": 2},
    "dense_step": {"width": 16, "batch": 4, "repeats": 2, "steps_per_sample": 1},
}

LIBRARIES = [
    "keras",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "optax",
    "scipy",
    "scikit-learn",
    "numpy",
    "matplotlib",
]
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def versions():
    found = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def parse(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and 2 rounds: checks the harness, measures nothing",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where TensorFlow and JAX work runs (default: cpu)",
    )
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "jax"),
        default=None,
        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )
    parser.add_argument(
        "--only",
        default=",".join(MEASURES),
        help=f"comma-separated subset of {', '.join(MEASURES)}",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved rounds per comparison (overrides every measure's)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=None,
        help="where benchmarks.md, benchmarks.json and img/ go (default: docs/ "
        "for a full run of every measure, a temporary folder otherwise)",
    )
    args = parser.parse_args(argv)
    args.only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = sorted(set(args.only) - set(MEASURES))
    if unknown:
        parser.error(f"--only: unknown measure(s) {unknown}; choose from {list(MEASURES)}")
    if args.out is None:
        full = not args.smoke and args.only == list(MEASURES)
        # Only a full run replaces the published page; partial and smoke runs
        # must not overwrite it with a mix of runs.
        args.out = DOCS if full else None
    return args


def main(argv=None):
    args = parse(argv)
    if args.out is None:
        args.out = pathlib.Path(tempfile.mkdtemp(prefix="kkc-bench-"))
    if args.backend:  # before Keras is imported
        os.environ["KERAS_BACKEND"] = args.backend
    import keras

    placement = _timing.Placement(args.device)
    found = versions()
    results = {
        "date": datetime.date.today().isoformat(),
        "smoke": args.smoke,
        "machine": _timing.machine_header(**found),
        "versions": found,
        "backend": placement.backend,
        "device": placement.describe(),
        "measures": [],
    }
    print(results["machine"])
    print(
        f"Keras {keras.__version__} on {placement.backend}, {results['device']}"
        f"{' (smoke mode)' if args.smoke else ''}\n"
    )
    sizes = SMOKE if args.smoke else FULL
    for name in args.only:
        measure_sizes = dict(sizes[name])
        if args.repeats is not None:
            measure_sizes["repeats"] = args.repeats
        start = time.perf_counter()
        print(f"== {MEASURES[name].TITLE} ...", flush=True)
        result = MEASURES[name].run(measure_sizes, placement)
        seconds = time.perf_counter() - start
        for one in result if isinstance(result, list) else [result]:  # a table per backend
            one["seconds"] = seconds
            results["measures"].append(one)
        print(f"   done in {seconds:.0f} s", flush=True)
    if (
        "throughput" in args.only
        and placement.backend == "tensorflow"
        and importlib.util.find_spec("jax") is not None
    ):
        jax_table = _throughput_on_jax(args)
        if jax_table is not None:
            results["measures"].append(jax_table)
    page = report.write(results, args.out)
    print("\n(smoke mode: tiny sizes, these verdicts mean nothing)" if args.smoke else "")
    for title, item, figure, target in report.summary_rows(results):
        verdict = "met" if figure["min"] <= target else "MISSED"
        unit = f" {figure['unit']}" if "unit" in figure else ""
        print(
            f"{title:<22} {item:<58} {figure['min']:7.3f}{unit} (median {figure['median']:.3f})"
            f"  target <= {target:g}{unit}: {verdict}"
        )
    print(f"\nwrote {page} and {args.out / 'img'}")
    return results


def _throughput_on_jax(args):
    """The throughput measure on Keras's JAX backend, in a child process;
    ``None`` (with the child's error printed) if it cannot run."""
    print(f"== {throughput.TITLE} on Keras's JAX backend (child process) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="kkc-bench-jax-") as out:
        command = [
            sys.executable,
            "-m",
            "benchmarks",
            "--backend",
            "jax",
            "--only",
            "throughput",
            "--device",
            args.device,
            "--out",
            out,
        ]
        command += ["--smoke"] * args.smoke
        command += ["--repeats", str(args.repeats)] * (args.repeats is not None)
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:  # e.g. --device gpu with a CPU-only JAX
            print(f"   skipped: the JAX child process failed:\n{done.stderr[-2000:]}")
            return None
        measure = json.loads((pathlib.Path(out) / "benchmarks.json").read_text())["measures"][0]
    measure["title"] = f"{throughput.TITLE}, Keras on JAX"
    print(f"   done in {measure['seconds']:.0f} s", flush=True)
    return measure


if __name__ == "__main__":
    main()
