"""Every script in examples/ runs and prints what it claims."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import keras
import pytest

pytestmark = pytest.mark.slow  # runs every example script in a fresh process

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
# model.export() writes a TensorFlow SavedModel: Keras does it on TensorFlow,
# and on JAX when tensorflow is installed.
EXPORTS = keras.backend.backend() in ("tensorflow", "jax") and bool(
    importlib.util.find_spec("tensorflow")
)


def run_example(name, *args):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sharpening_example_recovers_the_kernel(tmp_path):
    out = run_example("sharpening_kernel.py", "--epochs", "25", "--out", str(tmp_path / "k.png"))
    # Within the float32 sum tolerance of 9 entries of magnitude <= 5 (tests/helpers.py);
    # printed to 6 decimals, TensorFlow's sum rounds to 1.000000, PyTorch's to 1.000001.
    assert abs(float(re.search(r"sum of entries: (\S+)", out).group(1)) - 1.0) <= 9 * 2**-23 * 5
    assert float(re.search(r"max abs error vs the sharpening kernel: (\S+)", out).group(1)) <= 0.05
    boxed = out.split("with Intersect")[1]
    assert abs(float(re.search(r"sum of entries: (\S+)", boxed).group(1)) - 1.0) <= 9 * 2**-23 * 5
    low, high = map(float, re.search(r"taps within: \[(\S+), (\S+)\]", boxed).groups())
    assert low >= -1.0 and high <= 5.0
    assert (
        float(re.search(r"max abs error vs the sharpening kernel: (\S+)", boxed).group(1)) <= 0.05
    )
    assert (tmp_path / "k.png").exists()


def test_monotone_fir_example_learns_ordered_positive_taps(tmp_path):
    out = run_example("monotone_fir.py", "--epochs", "25", "--out", str(tmp_path / "f.png"))
    kept, total = map(int, re.search(r"after (\d+)/(\d+) epochs", out).groups())
    assert kept == total == 25
    assert float(re.search(r"moved from the start by: (\S+)", out).group(1)) > 0.5
    assert float(re.search(r"max abs error vs the target taps: (\S+)", out).group(1)) <= 0.05
    assert (tmp_path / "f.png").exists()


def test_choose_mechanism_example_measures_the_three_mechanisms():
    out = run_example("choose_mechanism.py", "--epochs", "40")
    blocks = re.findall(r"^(sharpening|FIR): .*?\n(.*?)(?:\n\n|\Z)", out, re.M | re.S)
    rows = {
        (problem, name.strip()): (epochs, float(error), float(violation))
        for problem, block in blocks
        for name, epochs, error, violation, _ in re.findall(
            r"^(\S.*?)\s+(\d+|never)\s+(\S+)\s+(\S+)\s+(\S+)$", block, re.M
        )
    }
    for problem in ("sharpening", "FIR"):
        projected = rows[(problem, "projection (constraint)")]
        parametrized = rows[(problem, "parametrization")]
        penalty = rows[(problem, "penalty, strength 1")]
        # Both exact mechanisms reach the loss target, stay in the set and
        # find the same kernel; the penalty leaves the set.
        assert projected[0] != "never" and parametrized[0] != "never"
        assert projected[2] <= 1e-5 and parametrized[2] <= 1e-5
        assert abs(parametrized[1] - projected[1]) <= 0.01
        assert penalty[2] > 0.01
    assert rows[("FIR", "parametrization")][1] < 0.15  # an unconstrained layer: 0.204


def test_moment_transport_example_compares_the_three_optimizers():
    out = run_example("moment_transport.py", "--steps", "300")
    rows = {
        (problem.split(":")[0], optimizer): (
            float(error),
            None if step == "not reached" else int(step),
        )
        for problem, optimizer, error, step in re.findall(
            r"^\| (.+?) \| (\S+(?: \S+)?) \| (\S+) \| (\d+|not reached) \|$", out, re.M
        )
    }
    optimizers = ("Adam", "Projected(Adam, transport=False)", "Projected(Adam)")
    problems = {problem for problem, _ in rows}
    assert len(problems) == 5 and len(rows) == 15, out
    stiefel = "Stiefel (20, 3), Orthogonal()"
    for problem in problems - {stiefel}:
        # The seed problems: every optimizer reaches the known optimum.
        assert all(rows[(problem, o)][1] is not None for o in optimizers), out
    # On the manifold, Adam's steps are mostly undone by the projection.
    assert rows[(stiefel, "Adam")][1] is None and rows[(stiefel, "Adam")][0] > 0.1
    assert rows[(stiefel, "Projected(Adam)")][0] <= 1e-3
    # Entries pinned at 0 carry no outward momentum into their release.
    released = next(p for p in problems if p.startswith("the same, then"))
    assert rows[(released, "Projected(Adam)")][1] < rows[(released, "Adam")][1], out


def test_nonneg_add_weight_example_contrasts_hard_and_soft(tmp_path):
    out = run_example("nonneg_add_weight.py", "--epochs", "25", "--out", str(tmp_path / "n.png"))
    runs = dict(
        re.findall(
            r"^(hard NonNeg\(\)|soft NonNegPenalty\([\d.]+\)).*"
            r"min over all epochs: (\S+)",
            out,
            re.M,
        )
    )
    assert float(runs["hard NonNeg()"]) >= 0.0  # feasible after every epoch
    assert float(runs["soft NonNegPenalty(0.1)"]) < -0.3  # a weak penalty lets it go negative
    hard = re.search(r"hard NonNeg\(\)\s+final w = \[([^\]]+)\]", out).group(1)
    assert float(hard.split(",")[1]) == 0.0  # the constrained optimum sits on the bound
    assert float(re.search(r"max error of the free weights: (\S+)", out).group(1)) <= 0.06
    assert (tmp_path / "n.png").exists()


def test_penalty_strength_example_predicts_each_penalty_from_the_multiplier():
    out = run_example("penalty_strength.py")
    multiplier = float(re.search(r"multiplier λ = (\S+),", out).group(1))
    assert 0.8 < multiplier < 1.1  # about 2 x 0.5: the pull towards the true -0.5
    rows = re.findall(r"^NonNegPenalty\(strength=(\S+), power=(\d)\)\s+(\S+)\s+(\S+)$", out, re.M)
    assert len(rows) == 7
    for strength, power, predicted, measured in rows:
        predicted, measured = float(predicted), float(measured)
        if power == "1" and float(strength) > multiplier:
            # The exact regime: Adam hovers at the kink, within 2e-3 of w* = 0.
            assert abs(measured) <= 2e-3, (strength, measured)
        else:
            assert measured < 0  # the penalty lets the weight out, as predicted
            assert abs(measured - predicted) <= 0.02 * abs(predicted) + 5e-4, (strength, power)


def test_save_reload_export_example_round_trips_in_a_new_process(tmp_path):
    out = run_example("save_reload_export.py", "--epochs", "2", "--out", str(tmp_path / "s.png"))
    assert "constraints Monotone, NonNeg, SumTo" in out
    assert float(re.search(r"prediction difference after reload: (\S+)", out).group(1)) == 0.0
    for name in ("worst decrease", "most negative tap", "most negative weight"):
        assert float(re.search(rf"{name}: (\S+)", out).group(1)) == 0.0
    assert float(re.search(r"filter sum - 1\|: (\S+)", out).group(1)) <= 1e-5
    # The target is a rectified ramp filter: the Monotone filters visibly rise.
    assert float(re.search(r"largest rise over the 8 taps[^:]*: (\S+)", out).group(1)) > 0.1
    served = re.search(r"serves the reloaded model's predictions: max difference (\S+)", out)
    if EXPORTS:
        assert float(served.group(1)) <= 1e-5
    else:
        assert served is None and "export skipped: model.export() writes a TensorFlow" in out
    assert (tmp_path / "s.png").exists()


def test_constraint_summary_example_names_every_group_and_the_mistake():
    out = run_example("constraint_summary_mobilenet.py")
    assert "Conv1  " in out and "16 groups of 27: one per output filter" in out
    assert out.count(": one per output channel") == 16  # 17 depthwise kernels, one mistaken
    assert "block_16_depthwise/kernel: each group spans several output channels" in out
    assert "use axis=(0, 1)" in out
    assert "each of the 12800 entries" in out
