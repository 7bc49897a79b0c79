#!/usr/bin/env python
"""Pool the completed folds of a k-fold run into its top-level metrics.json.

Used when a run was cut off by a time limit, or when its folds were trained by separate
``--only-fold`` processes (on different machines): the finished folds' held-out predictions are
pooled exactly as a complete run would pool them, and the file states how many folds finished.

    python scripts/pool_folds.py runs/ravdess_leaky
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from emorec.evaluation.metrics import pooled_and_per_fold


def main(run_dir: Path) -> None:
    fold_dirs = sorted(d for d in run_dir.glob("fold_*") if (d / "metrics.json").is_file())
    if not fold_dirs:
        sys.exit(f"error: no finished folds (fold_*/metrics.json) in {run_dir}")
    folds = [json.loads((d / "metrics.json").read_text()) for d in fold_dirs]
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else ""
    planned = next((int(line.split(":")[1]) for line in config.splitlines() if line.startswith("folds:")), None)
    metrics = pooled_and_per_fold(folds, folds[0]["labels"])
    metrics.update({k: folds[0].get(k) for k in ("dataset", "protocol", "command", "model_card")})
    metrics["completed_folds"] = [d.name for d in fold_dirs]
    metrics["planned_folds"] = planned
    metrics["note"] = (f"all {planned} folds pooled" if planned == len(fold_dirs) else
                       f"interrupted run: {len(fold_dirs)} of {planned} folds finished; pooled over those")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    parts = [np.load(d / "predictions.npz") for d in fold_dirs]
    np.savez_compressed(run_dir / "predictions.npz", **{k: np.concatenate([p[k] for p in parts]) for k in parts[0].files})
    print(f"{run_dir}: pooled {len(fold_dirs)} folds, accuracy {metrics['pooled']['accuracy']:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
