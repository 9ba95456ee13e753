"""The quick-start demo runs, shows what it promises and writes its figure."""

import shutil
import subprocess
import sys

import pytest

from keras_kernel_constraints import demo
from tests.helpers import keras_at_least, run_python

pytestmark = pytest.mark.slow  # trains every scenario of the demo


def test_demo_recovers_the_kernel_and_writes_the_figure(tmp_path, capsys):
    epochs = 30
    outcomes = demo.run(["--out", str(tmp_path), "--epochs", str(epochs), "--starts", "2"])
    projected = outcomes["sharpen: SumTo(1.0) projection"].values
    divided = outcomes["sharpen: divide by sum"].values
    assert projected["recovered"] == projected["starts"] == 2
    assert projected["worst_sum_gap"] <= 1e-5
    # The kernel near sum 0: dividing blows it up, the projection does not.
    assert divided["near_zero_max"] > 50 and abs(projected["near_zero_sum"] - 1) <= 1e-6
    assert projected["near_zero_max"] < 1

    hard = outcomes["add_weight: hard: NonNeg()"].values
    weak = outcomes["add_weight: soft: NonNegPenalty(0.5)"].values
    assert hard["min_weight"] == 0.0 and weak["min_weight"] < 0.0

    monotone = outcomes["FIR: Monotone(min_value=0.0)"].values
    unconstrained = outcomes["FIR: unconstrained"].values
    built_once = outcomes["FIR: cumsum(exp(v)) built once"].values
    assert monotone["feasible_epochs"] == monotone["epochs"] == epochs
    assert monotone["breaks"] == 0 and monotone["moved"] > 0.5
    # Little data, much noise: the unconstrained taps break the order, and
    # the constraint brings the kernel closer to the target.
    assert unconstrained["breaks"] >= 2
    assert monotone["rms_error"] < 0.8 * unconstrained["rms_error"]
    assert unconstrained["epochs"] == epochs
    assert built_once["moved"] == 0.0  # the kernel built once never trains
    # cumsum(softplus) computed in every step trains, stays feasible, and
    # recovers the FIR as well as the projection does (Keras >= 3.4; older
    # Keras runs the demo without it).
    if keras_at_least(3, 4):
        parametrized = outcomes["FIR: parametrized Monotone(min_value=0.0)"].values
        assert parametrized["breaks"] == 0 and parametrized["feasible_epochs"] == epochs
        assert parametrized["rms_error"] <= 1.1 * monotone["rms_error"]
    else:
        assert "FIR: parametrized Monotone(min_value=0.0)" not in outcomes

    out = capsys.readouterr().out
    assert "== Summary ==" in out and "FIR: Monotone(min_value=0.0)" in out
    assert (tmp_path / "learned_kernels.png").stat().st_size > 10_000
    assert (tmp_path / "monotone_fir.png").stat().st_size > 10_000


def test_demo_says_so_when_matplotlib_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    assert demo._plot(str(tmp_path), demo.np_sharpen(), {}, {}) is None
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_module_entry_point_parses_its_options():
    out = run_python(
        "import runpy, sys; sys.argv = ['kkc-demo', '--help']; "
        "runpy.run_module('keras_kernel_constraints', run_name='__main__')"
    )
    assert "--out" in out and "--epochs" in out


def test_help_answers_before_keras_is_imported():
    # TensorFlow prints start-up logs on import (TF_CPP_MIN_LOG_LEVEL does not
    # silence them all): --help must not import it.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, kkc_demo\n"
            "try:\n    kkc_demo.main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted({'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: kkc-demo") and "--epochs" in done.stdout
    assert done.stdout.rstrip().endswith("[]"), done.stdout  # no framework imported
    assert done.stderr == ""


@pytest.mark.skipif(shutil.which("kkc-demo") is None, reason="the package is not installed")
def test_installed_command_prints_only_its_help():
    done = subprocess.run(["kkc-demo", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: kkc-demo")
