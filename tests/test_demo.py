"""The quick-start demo runs, shows what it promises and writes its figure."""

import re
import sys

from keras_kernel_constraints import demo
from tests.helpers import run_python


def test_demo_recovers_the_kernel_and_writes_the_figure(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--epochs", "30", "--starts", "2"]) == 0
    out = capsys.readouterr().out
    assert "SumTo(1.0) projection    recovered 2/2" in out
    assert "divide by sum gives [ 59.9" in out  # the sign-flip example
    assert "hard: NonNeg()             min weight +0.00000" in out
    assert re.search(
        r"Monotone\(min_value=0.0\) +max abs error 0\.0\d\d, taps moved 1\.\d+, "
        r"ordered, >= 0: 30/30 ep",
        out,
    )
    assert re.search(r"unconstrained +max abs error .*ordered, >= 0: (\d+)/30 ep", out)
    assert re.search(r"built once +max abs error .*taps moved 0\.000", out)
    assert "== Summary ==" in out
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
