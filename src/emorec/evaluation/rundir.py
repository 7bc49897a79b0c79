"""Read a run directory (single split or k-fold) into one tolerant structure.

The format is documented in the project notes: ``config.yaml``,
``history.jsonl``, ``metrics.json``, ``predictions.npz`` and, for k-fold runs,
``fold_XX/`` folders with their own history, metrics and predictions. Every
missing or unreadable piece is recorded in ``RunData.missing`` instead of
raising, so a report can show what exists and say what does not.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emorec.errors import InputError
from emorec.evaluation.metrics import classification_metrics, pooled_and_per_fold

FOLD_DIR = re.compile(r"^fold_?(\d+)$")


@dataclass
class Predictions:
    """Arrays from predictions.npz (possibly concatenated over folds)."""

    y_true: np.ndarray
    probs: np.ndarray
    groups: np.ndarray
    paths: np.ndarray

    @property
    def y_pred(self) -> np.ndarray:
        if self.probs.size == 0:
            return np.zeros(0, dtype=np.int64)
        return self.probs.argmax(axis=1)

    @property
    def has_groups(self) -> bool:
        return self.groups.size > 0 and all(str(g) for g in self.groups)


@dataclass
class FoldData:
    name: str
    path: Path
    metrics: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    predictions: Predictions | None = None


@dataclass
class RunData:
    """Everything a report needs; ``missing`` lists what could not be read and why."""

    path: Path
    metrics: dict[str, Any] | None = None  # classification dict (pooled for k-fold)
    raw_metrics: dict[str, Any] | None = None  # metrics.json as written
    config: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    predictions: Predictions | None = None
    folds: list[FoldData] = field(default_factory=list)
    across_folds: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_kfold(self) -> bool:
        return bool(self.folds) or bool(self.raw_metrics and "folds" in self.raw_metrics)

    def meta(self, key: str) -> Any:
        """A run-level field (dataset, protocol, command, model_card) from metrics.json or config.yaml."""
        for source in (self.raw_metrics or {}, self.config or {}):
            value = source.get(key)
            if value not in (None, "", {}):
                return value
        return None

    @property
    def labels(self) -> list[str]:
        if self.metrics and self.metrics.get("labels"):
            return list(self.metrics["labels"])
        card = self.meta("model_card")
        if isinstance(card, dict) and card.get("labels"):
            return list(card["labels"])
        if self.predictions is not None and self.predictions.probs.ndim == 2:
            return [f"class_{i}" for i in range(self.predictions.probs.shape[1])]
        return []


def _read_json(path: Path, missing: list[str], what: str) -> Any:
    if not path.is_file():
        missing.append(f"{what}: {path.name} not found")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        missing.append(f"{what}: {path.name} is not valid JSON ({exc})")
        return None


def _read_history(path: Path, missing: list[str], where: str = "") -> list[dict[str, Any]] | None:
    if not path.is_file():
        missing.append(f"training log{where}: {path.name} not found, so no training curves")
        return None
    rows: list[dict[str, Any]] = []
    bad = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    if bad:
        missing.append(f"training log{where}: {bad} unreadable line(s) in {path.name} skipped")
    if not rows:
        missing.append(f"training log{where}: {path.name} has no epochs")
        return None
    return rows


def _read_config(path: Path, missing: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        missing.append(f"run configuration: {path.name} not found")
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        missing.append(f"run configuration: {path.name} is not valid YAML ({str(exc).splitlines()[0]})")
        return None
    if not isinstance(data, dict):
        missing.append(f"run configuration: {path.name} is not a mapping")
        return None
    return data


def read_predictions(path: Path, missing: list[str], where: str = "") -> Predictions | None:
    """Load predictions.npz; arrays of mismatched length are reported, not trusted."""
    if not path.is_file():
        missing.append(
            f"predictions{where}: {path.name} not found, so no confidence intervals, "
            "calibration or per-group accuracy"
        )
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean the file is unusable
        missing.append(f"predictions{where}: {path.name} cannot be read ({exc})")
        return None
    if "y_true" not in arrays or "probs" not in arrays:
        missing.append(f"predictions{where}: {path.name} lacks y_true or probs")
        return None
    y_true = np.asarray(arrays["y_true"]).astype(np.int64).ravel()
    probs = np.asarray(arrays["probs"], dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != y_true.size:
        if y_true.size == 0 and probs.size == 0:
            probs = probs.reshape(0, probs.shape[-1] if probs.ndim == 2 else 0)
        else:
            missing.append(
                f"predictions{where}: probs has shape {probs.shape} but there are {y_true.size} targets"
            )
            return None
    n = y_true.size

    def strings(key: str) -> np.ndarray:
        arr = np.asarray(arrays.get(key, np.array([], dtype=str))).astype(str).ravel()
        return arr if arr.size == n else np.full(n, "", dtype=str)

    return Predictions(y_true=y_true, probs=probs, groups=strings("groups"), paths=strings("paths"))


def _concat(preds: list[Predictions]) -> Predictions:
    width = max((p.probs.shape[1] for p in preds if p.probs.ndim == 2), default=0)
    return Predictions(
        y_true=np.concatenate([p.y_true for p in preds]),
        probs=np.concatenate([p.probs.reshape(-1, width) for p in preds]),
        groups=np.concatenate([p.groups for p in preds]),
        paths=np.concatenate([p.paths for p in preds]),
    )


def fold_dirs(run_dir: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := FOLD_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def load_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir``; raises InputError only when the folder itself does not exist.

    >>> run = load_run("runs/face-ckplus")  # doctest: +SKIP
    >>> run.missing
    []
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(f"run directory {path} not found: pass the folder written by `train` or `evaluate`")
    run = RunData(path=path)
    run.raw_metrics = _read_json(path / "metrics.json", run.missing, "metrics")
    if run.raw_metrics is not None and not isinstance(run.raw_metrics, dict):
        run.missing.append("metrics: metrics.json is not a JSON object")
        run.raw_metrics = None
    run.config = _read_config(path / "config.yaml", run.missing)

    for fold_path in fold_dirs(path):
        fold = FoldData(name=fold_path.name, path=fold_path)
        where = f" of {fold_path.name}"
        fold_missing: list[str] = []
        fold.metrics = _read_json(fold_path / "metrics.json", fold_missing, f"metrics{where}")
        fold.history = _read_history(fold_path / "history.jsonl", fold_missing, where)
        fold.predictions = read_predictions(fold_path / "predictions.npz", fold_missing, where)
        run.missing.extend(fold_missing)
        run.folds.append(fold)

    raw = run.raw_metrics or {}
    if "pooled" in raw or "folds" in raw:
        run.metrics = raw.get("pooled")
        run.across_folds = raw.get("across_folds")
        fold_metrics = raw.get("folds") or []
        # Fold metrics in metrics.json are authoritative; fold folders fill gaps.
        for i, fm in enumerate(fold_metrics):
            if i < len(run.folds):
                if run.folds[i].metrics is None:
                    run.folds[i].metrics = fm
            else:
                run.folds.append(FoldData(name=f"fold_{i + 1:02d}", path=path, metrics=fm))
    elif raw:
        run.metrics = raw if "confusion_matrix" in raw else None
        if run.metrics is None:
            run.missing.append("metrics: metrics.json has no confusion matrix or per-fold results")

    if run.folds and run.metrics is None:
        fms = [f.metrics for f in run.folds if f.metrics and "confusion_matrix" in f.metrics]
        if fms and len(fms) == len(run.folds):
            combined = pooled_and_per_fold(fms, fms[0]["labels"])
            run.metrics, run.across_folds = combined["pooled"], combined["across_folds"]
            run.notes.append("pooled metrics computed from the fold folders' metrics.json files")

    # A k-fold run keeps its logs in the fold folders; a top-level log is optional there.
    if not run.folds or (path / "history.jsonl").is_file():
        run.history = _read_history(path / "history.jsonl", run.missing)
    if (path / "predictions.npz").is_file() or not run.folds:
        run.predictions = read_predictions(path / "predictions.npz", run.missing)
    else:
        fold_preds = [f.predictions for f in run.folds]
        if fold_preds and all(p is not None for p in fold_preds):
            run.predictions = _concat(fold_preds)  # type: ignore[arg-type]
            run.notes.append("pooled predictions concatenated from the folds' predictions.npz")
        elif any(p is not None for p in fold_preds):
            run.missing.append("predictions: some folds lack predictions.npz, so pooled intervals are not computed")

    if run.metrics is None and run.predictions is not None:
        labels = run.labels
        if labels and run.predictions.probs.shape[1] == len(labels):
            run.metrics = classification_metrics(run.predictions.y_true, run.predictions.y_pred, labels)
            run.notes.append("metrics recomputed from predictions.npz because metrics.json was unusable")
    return run
