"""The benchmark scripts run end to end on tiny sizes (no speed is asserted)."""

import pytest


def test_simplex_benchmark_runs_and_reports_a_ratio(capsys):
    pytest.importorskip("optax")
    from benchmarks import simplex

    times = simplex.main(["--rows", "50", "--n", "8", "--repeats", "2"])
    assert len(times) == 2 and all(t["min"] > 0 for t in times.values())
    assert "ratio ours / optax" in capsys.readouterr().out
