"""Fixtures of the benchmark tests; the benchmarks import as the ``benchmarks`` package
(pytest puts the repository root on sys.path: ``pythonpath`` in pyproject.toml)."""
from __future__ import annotations

import pytest


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """Benchmarks write here instead of benchmarks/results."""
    out = tmp_path / "results"
    monkeypatch.setenv("EMOREC_BENCH_RESULTS", str(out))
    return out
