"""Every script in examples/ runs and prints what it claims."""

import pathlib
import re
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sharpening_example_recovers_the_kernel(tmp_path):
    out = run_example("sharpening_kernel.py", "--epochs", "25", "--out", str(tmp_path / "k.png"))
    assert float(re.search(r"sum of entries: (\S+)", out).group(1)) == 1.0
    assert float(re.search(r"max abs error vs the sharpening kernel: (\S+)", out).group(1)) <= 0.05
    assert (tmp_path / "k.png").exists()


def test_monotone_fir_example_learns_ordered_positive_taps(tmp_path):
    out = run_example("monotone_fir.py", "--epochs", "25", "--out", str(tmp_path / "f.png"))
    kept, total = map(int, re.search(r"after (\d+)/(\d+) epochs", out).groups())
    assert kept == total == 25
    assert float(re.search(r"moved from the start by: (\S+)", out).group(1)) > 0.5
    assert float(re.search(r"max abs error vs the target taps: (\S+)", out).group(1)) <= 0.05
    assert (tmp_path / "f.png").exists()
