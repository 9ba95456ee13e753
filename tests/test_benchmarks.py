"""The benchmark scripts run end to end on tiny sizes (no speed is asserted)."""

import pytest


def test_simplex_benchmark_runs_and_reports_a_ratio(capsys):
    pytest.importorskip("optax")
    from benchmarks import simplex

    times = simplex.main(["--rows", "50", "--n", "8", "--repeats", "2"])
    assert len(times) == 2 and all(t["min"] > 0 for t in times.values())
    assert "ratio ours / optax" in capsys.readouterr().out


def test_monotone_benchmark_runs_and_reports_ratios(capsys):
    pytest.importorskip("scipy")
    from benchmarks import monotone

    results = monotone.main(["--rows", "20", "--n", "8", "--long", "300", "--repeats", "2"])
    assert len(results) == 2
    assert all(r["ratio"]["min"] > 0 for r in results.values())
    assert capsys.readouterr().out.count("ratio ours / scipy") == 2
