"""Percentile-bootstrap confidence intervals for the headline metrics.

Every resample is summarised by a confusion matrix, so one resample costs a
matrix product instead of a Python loop: each resampling unit (a sample, or
a whole subject/speaker for grouped protocols) contributes its own small
confusion matrix, and a resample is a weighted sum of them. The metric
definitions match :mod:`emorec.evaluation.metrics` (balanced accuracy and
macro-F1 average over the classes present in that resample's ground truth).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emorec.evaluation.metrics import confusion_matrix, metrics_from_confusion

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")


def _metrics_from_confusions(cms: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised headline metrics for a stack of confusion matrices (B, C, C).

    A resample where a metric is undefined (no samples) yields NaN there; the
    caller drops those before taking percentiles.
    """
    cms = cms.astype(np.float64)
    total = cms.sum(axis=(1, 2))
    tp = np.diagonal(cms, axis1=1, axis2=2)
    support = cms.sum(axis=2)
    predicted = cms.sum(axis=1)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(total > 0, tp.sum(axis=1) / total, np.nan)
        recall = np.where(present, tp / np.where(present, support, 1), 0.0)
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        n_present = present.sum(axis=1)
        balanced = np.where(n_present > 0, (recall * present).sum(axis=1) / np.maximum(n_present, 1), np.nan)
        macro_f1 = np.where(n_present > 0, (f1 * present).sum(axis=1) / np.maximum(n_present, 1), np.nan)
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "macro_f1": macro_f1}


def _unit_confusions(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, units: np.ndarray, n_units: int
) -> np.ndarray:
    """(n_units, C*C) counts: the confusion matrix of each resampling unit, flattened."""
    cells = y_true * n_classes + y_pred
    flat = np.zeros((n_units, n_classes * n_classes), dtype=np.float64)
    np.add.at(flat, (units, cells), 1.0)
    return flat


def bootstrap_ci(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    labels: Sequence[str],
    *,
    groups: Sequence[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 200,
) -> dict[str, Any]:
    """Point estimates and percentile-bootstrap intervals for accuracy, UAR and macro-F1.

    With ``groups`` (subject or speaker per sample) whole groups are resampled,
    which is the honest interval for grouped protocols where samples of one
    person are correlated. The seed is fixed so reports are reproducible.

    Returns ``{"n", "n_resamples", "confidence", "seed", "unit", "n_units",
    metric: {"value", "low", "high"}}``; values are None when undefined
    (e.g. an empty test set).

    >>> ci = bootstrap_ci([0, 1, 1, 0], [0, 1, 0, 0], ["a", "b"], n_resamples=200)
    >>> ci["accuracy"]["low"] <= ci["accuracy"]["value"] <= ci["accuracy"]["high"]
    True
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} items but y_pred has {y_pred.size}")
    n_classes = len(labels)
    point = metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes), labels)
    result: dict[str, Any] = {
        "n": int(y_true.size),
        "n_resamples": int(n_resamples),
        "confidence": float(confidence),
        "seed": int(seed),
        "unit": "sample",
        "n_units": int(y_true.size),
    }
    if groups is not None:
        group_arr = np.asarray(groups).astype(str).ravel()
        if group_arr.size != y_true.size:
            raise ValueError(f"groups has {group_arr.size} items but y_true has {y_true.size}")
        names, units = np.unique(group_arr, return_inverse=True)
        result["unit"] = "group"
    else:
        units = np.arange(y_true.size)
        names = units
    n_units = len(names)
    result["n_units"] = int(n_units)
    if y_true.size == 0 or n_resamples <= 0:
        for key in HEADLINE:
            result[key] = {"value": point[key], "low": None, "high": None}
        return result

    flat = _unit_confusions(y_true, y_pred, n_classes, units, n_units)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {key: [] for key in HEADLINE}
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        # How often each unit was drawn, per resample: (b, n_units).
        offsets = (np.arange(b) * n_units)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=b * n_units)
        counts = counts.reshape(b, n_units).astype(np.float64)
        cms = (counts @ flat).reshape(b, n_classes, n_classes)
        for key, values in _metrics_from_confusions(cms).items():
            samples[key].append(values)
        done += b
    alpha = (1.0 - confidence) / 2.0
    for key in HEADLINE:
        values = np.concatenate(samples[key])
        values = values[np.isfinite(values)]
        if point[key] is None or values.size == 0:
            result[key] = {"value": point[key], "low": None, "high": None}
            continue
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        result[key] = {"value": point[key], "low": float(low), "high": float(high)}
    return result
