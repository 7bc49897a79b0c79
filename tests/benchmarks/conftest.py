"""Import paths for the benchmark scripts (``benchmarks/``) and this folder's helpers."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for path in (HERE, REPO / "benchmarks", REPO / "tests" / "evaluation"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """Benchmarks write here instead of benchmarks/results."""
    out = tmp_path / "results"
    monkeypatch.setenv("EMOREC_BENCH_RESULTS", str(out))
    return out
