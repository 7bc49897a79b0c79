"""Build small synthetic run directories in the documented format for report tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from emorec.evaluation.metrics import classification_metrics, pooled_and_per_fold

LABELS = ["neutral", "happy", "sad", "angry"]
CARD = {
    "name": "face-test",
    "task": "face",
    "labels": LABELS,
    "input": {"size": [48, 48], "channels": 1},
    "architecture": "tiny-cnn",
    "training": {"data": "synthetic", "protocol": "subject-kfold"},
    "license": "MIT",
}


def make_predictions(n: int, n_classes: int, seed: int, accuracy: float = 0.7, groups: list[str] | None = None):
    """Targets, probabilities that are right about ``accuracy`` of the time, and groups."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    right = rng.random(n) < accuracy
    pred = np.where(right, y_true, rng.integers(0, n_classes, n))
    logits = rng.normal(0, 1, (n, n_classes))
    logits[np.arange(n), pred] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    g = np.array(groups if groups is not None else [""] * n, dtype=str)
    return y_true.astype(np.int64), probs.astype(np.float32), g


def write_single(
    run: Path,
    n: int = 120,
    seed: int = 0,
    labels: list[str] = LABELS,
    grouped: bool = True,
    card: dict | None = CARD,
    history: bool = True,
    predictions: bool = True,
    drop_class: int | None = None,
) -> dict:
    """A single-split run; returns the metrics dict written to metrics.json."""
    run.mkdir(parents=True, exist_ok=True)
    groups = [f"S{(i % 6) + 1:03d}" for i in range(n)] if grouped else None
    y_true, probs, g = make_predictions(n, len(labels), seed, groups=groups)
    if drop_class is not None:
        keep = y_true != drop_class
        y_true, probs, g = y_true[keep], probs[keep], g[keep]
    metrics = classification_metrics(y_true, probs.argmax(axis=1) if len(y_true) else [], labels)
    command = "emorec face evaluate --data ckplus48 --protocol subject-kfold --json metrics.json"
    metrics.update(dataset="ckplus48", protocol="subject-kfold", command=command, model_card=card)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "command": command, "task": "face",
                                                     "epochs": 3}))
    if history:
        _write_history(run / "history.jsonl", 3)
    if predictions:
        np.savez(run / "predictions.npz", y_true=y_true, probs=probs, groups=g,
                 paths=np.array([f"img_{i}.png" for i in range(len(y_true))]))
    return metrics


def _write_history(path: Path, epochs: int) -> None:
    rows = [
        {"epoch": e, "train_loss": 1.5 / e, "train_acc": 0.4 + 0.1 * e, "val_loss": 1.6 / e,
         "val_acc": 0.35 + 0.1 * e, "lr": 1e-3, "seconds": 2.0 + 0.1 * e}
        for e in range(1, epochs + 1)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_kfold(run: Path, k: int = 3, n_per_fold: int = 60, labels: list[str] = LABELS) -> dict:
    """A k-fold run with fold_XX folders, each holding distinct subjects."""
    run.mkdir(parents=True, exist_ok=True)
    fold_metrics = []
    for f in range(k):
        fold = run / f"fold_{f + 1:02d}"
        fold.mkdir()
        groups = [f"S{f * 2 + (i % 2) + 1:03d}" for i in range(n_per_fold)]
        y_true, probs, g = make_predictions(n_per_fold, len(labels), seed=10 + f, accuracy=0.6 + 0.1 * f,
                                            groups=groups)
        fm = classification_metrics(y_true, probs.argmax(axis=1), labels)
        (fold / "metrics.json").write_text(json.dumps(fm))
        _write_history(fold / "history.jsonl", 4)
        np.savez(fold / "predictions.npz", y_true=y_true, probs=probs, groups=g,
                 paths=np.array([f"f{f}_{i}.png" for i in range(n_per_fold)]))
        fold_metrics.append(fm)
    metrics = pooled_and_per_fold(fold_metrics, labels)
    command = f"emorec face train --data ckplus48 --protocol subject-kfold --folds {k}"
    metrics.update(dataset="ckplus48", protocol="subject-kfold", command=command, model_card=CARD)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "command": command, "folds": k}))
    return metrics
