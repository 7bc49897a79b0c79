"""scripts/pool_folds.py: finished folds pooled into the run's metrics.json, and the note says how many."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "benchmarks" / "runs" / "ravdess_leaky"


def _run(tmp: Path, planned: int) -> dict:
    run = tmp / "run"
    for fold in ("fold_01", "fold_02"):
        (run / fold).mkdir(parents=True)
        for name in ("metrics.json", "predictions.npz"):
            shutil.copy(RUN / fold / name, run / fold / name)
    (run / "config.yaml").write_text(f"folds: {planned}\n")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "pool_folds.py"), str(run)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads((run / "metrics.json").read_text())


def test_pooled_over_finished_folds_with_an_honest_note(tmp_path):
    m = _run(tmp_path, 5)
    assert m["completed_folds"] == ["fold_01", "fold_02"] and m["planned_folds"] == 5
    assert "2 of 5" in m["note"]
    preds = np.load(tmp_path / "run" / "predictions.npz")
    sizes = [len(np.load(RUN / f / "predictions.npz")["y_true"]) for f in ("fold_01", "fold_02")]
    assert len(preds["y_true"]) == sum(sizes)


def test_all_planned_folds_are_not_called_interrupted(tmp_path):
    assert _run(tmp_path, 2)["note"] == "all 2 folds pooled"
