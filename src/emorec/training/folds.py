"""The generic k-fold loop with resume, shared by face and voice training.

Each fold gets ``out/fold_XX/``; a fold whose ``metrics.json`` exists is read
back on ``--resume`` instead of retrained (``is_complete`` may say that a fold
needs more work, e.g. a larger ensemble). ``run_fold`` trains and scores one
fold and writes its ``metrics.json`` / ``predictions.npz``; the loop removes
the fold's ``checkpoint.pt`` afterwards to keep run directories small.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emorec.training.rundir import read_json


@dataclass(frozen=True)
class FoldSpec:
    """One fold: 1-based ``index``, its ``name`` (``fold_XX``) and its train/test indices."""

    index: int
    name: str
    train: np.ndarray
    test: np.ndarray


def fold_specs(folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[FoldSpec]:
    return [FoldSpec(k, f"fold_{k:02d}", tr, te) for k, (tr, te) in enumerate(folds, start=1)]


def run_folds(
    out: Path,
    folds: Sequence[FoldSpec],
    run_fold: Callable[[FoldSpec, Path], dict[str, Any]],
    *,
    resume: bool = False,
    only: Sequence[int] = (),
    is_complete: Callable[[Path], bool] | None = None,
) -> list[dict[str, Any]]:
    """Metrics of every fold (``only``: just these 1-based folds), finished folds reused on resume."""
    results = []
    for fold in folds:
        if only and fold.index not in only:
            continue
        fold_dir = Path(out) / fold.name
        fold_dir.mkdir(exist_ok=True)
        done = fold_dir / "metrics.json"
        if resume and done.is_file() and (is_complete is None or is_complete(fold_dir)):
            results.append(read_json(done))
            continue
        results.append(run_fold(fold, fold_dir))
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)
    return results
