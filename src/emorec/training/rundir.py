"""Run directories, the same layout for both modalities.

A run directory holds ``config.yaml`` (reproduces the run with ``--config``),
``history.jsonl`` (one JSON line per epoch), ``metrics.json`` and
``predictions.npz`` (``y_true``, ``probs``, ``groups``, ``paths``), and the
best weights (``best.safetensors``); k-fold runs hold one ``fold_XX/`` folder
per fold with the same files and pooled metrics at the top. ``emorec report``
reads any of them. No torch here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from emorec.errors import EmorecError


def read_run_config(run_dir: str | Path, *, search_parent: bool = False, kind: str = "") -> dict[str, Any]:
    """``config.yaml`` of a run (or, with ``search_parent``, of the run a ``fold_XX`` folder belongs to)."""
    run_dir = Path(run_dir)
    for d in (run_dir, run_dir.parent) if search_parent else (run_dir,):
        path = d / "config.yaml"
        if path.is_file():
            return yaml.safe_load(path.read_text(encoding="utf-8"))
    what = f"a {kind} run directory" if kind else "a run directory"
    raise EmorecError(f"{run_dir} is not {what} (no config.yaml)")


def config_command(out: Path) -> str:
    """The command line saved in ``out/config.yaml`` ("" when unreadable)."""
    try:
        return yaml.safe_load((Path(out) / "config.yaml").read_text(encoding="utf-8")).get("command", "")
    except Exception:
        return ""


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_history(folder: Path) -> list[dict[str, Any]]:
    """The epochs of ``folder/history.jsonl`` ([] when absent)."""
    path = Path(folder) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def merge_fold_predictions(out: Path, fold_dirs: list[Path]) -> None:
    """Concatenate the folds' ``predictions.npz`` into ``out/predictions.npz`` (pooled scores, reports)."""
    parts = []
    for d in fold_dirs:
        if (d / "predictions.npz").is_file():
            with np.load(d / "predictions.npz") as p:
                parts.append({k: p[k] for k in p.files})
    if parts:
        np.savez_compressed(out / "predictions.npz", **{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def summary(metrics: dict[str, Any]) -> str:
    """Terminal summary of a run's metrics (pooled for k-fold runs), the same for both modalities."""
    from emorec.evaluation.metrics import format_metrics

    if metrics.get("trained_on_all"):
        return (f"trained on all {metrics['n_train']} clips ({len(metrics['speakers'])} speakers), "
                f"{metrics['epochs_run']} epochs; no held-out score (use the k-fold run's metrics)")
    if "pooled" in metrics:
        lines = [format_metrics(metrics["pooled"]), "", "across folds (mean +/- std):"]
        for key, s in metrics["across_folds"].items():
            if s["mean"] is not None:
                lines.append(f"  {key:<18} {100 * s['mean']:.2f} +/- {100 * s['std']:.2f} %")
        if metrics.get("suggested_epochs_for_all"):
            lines.append(f"\nmedian best epoch {metrics['suggested_epochs_for_all']}: "
                         f"use --epochs {metrics['suggested_epochs_for_all']} with --protocol all for the final model")
        return "\n".join(lines)
    return format_metrics(metrics)
