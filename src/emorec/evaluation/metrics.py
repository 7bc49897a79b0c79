"""Classification metrics the field reports: accuracy, balanced accuracy (UAR),
macro-F1, per-class precision/recall/F1 and the confusion matrix.

Pure numpy so evaluation works without scikit-learn. Classes absent from the
test set are reported with ``support == 0`` and ``None`` scores (never NaN);
UAR and macro-F1 average over the classes present in the ground truth.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm


def _safe_div(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def metrics_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """All headline and per-class metrics from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    per_class: dict[str, dict[str, Any]] = {}
    recalls, f1s = [], []
    for i, name in enumerate(labels):
        precision = _safe_div(tp[i], predicted[i])
        recall = _safe_div(tp[i], support[i])
        if precision is None and recall is not None:
            precision = 0.0  # never predicted but present: precision counts as 0 for F1
        f1 = None
        if recall is not None:
            p = precision or 0.0
            f1 = 2 * p * recall / (p + recall) if (p + recall) > 0 else 0.0
            recalls.append(recall)
            f1s.append(f1)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int(support[i]),
        }
    return {
        "n": total,
        "accuracy": _safe_div(tp.sum(), total),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
        "absent_classes": [name for i, name in enumerate(labels) if support[i] == 0],
    }


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """Metrics for integer targets and predictions over ``labels``."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(labels)), labels)


def pooled_and_per_fold(folds: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Combine per-fold metric dicts: pooled (summed confusion) plus mean/std over folds."""
    cms = [np.asarray(f["confusion_matrix"]) for f in folds]
    pooled = metrics_from_confusion(sum(cms), labels)
    spread: dict[str, Any] = {}
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        values = [f[key] for f in folds if f.get(key) is not None]
        spread[key] = {
            "mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values)) if values else None,
            "min": float(np.min(values)) if values else None,
            "max": float(np.max(values)) if values else None,
        }
    return {"pooled": pooled, "folds": list(folds), "across_folds": spread}


def format_metrics(m: dict[str, Any]) -> str:
    """Human-readable table of headline scores, per-class scores and the confusion matrix."""

    def pct(x: float | None) -> str:
        return "   n/a" if x is None else f"{100 * x:6.2f}"

    labels = m["labels"]
    lines = [
        f"n = {m['n']}",
        f"accuracy           {pct(m['accuracy'])} %",
        f"balanced accuracy  {pct(m['balanced_accuracy'])} %  (UAR)",
        f"macro-F1           {pct(m['macro_f1'])} %",
        "",
        f"{'class':<10} {'prec':>7} {'recall':>7} {'F1':>7} {'n':>6}",
    ]
    for name in labels:
        c = m["per_class"][name]
        lines.append(
            f"{name:<10} {pct(c['precision']):>7} {pct(c['recall']):>7} {pct(c['f1']):>7} {c['support']:>6}"
        )
    width = max(6, max(len(x) for x in labels))
    lines += ["", "confusion matrix (rows = true, columns = predicted)"]
    lines.append(" " * (width + 1) + " ".join(f"{x[:width]:>{width}}" for x in labels))
    for name, row in zip(labels, m["confusion_matrix"]):
        lines.append(f"{name:<{width}} " + " ".join(f"{v:>{width}d}" for v in row))
    if m.get("absent_classes"):
        lines.append(f"\nclasses absent from the test set: {', '.join(m['absent_classes'])}")
    return "\n".join(lines)
