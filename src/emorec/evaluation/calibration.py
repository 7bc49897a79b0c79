"""Calibration of predicted probabilities: reliability bins and expected calibration error.

The confidence of a prediction is its top probability; a well-calibrated
model is right 80% of the time when it says 0.8. ECE is the support-weighted
mean gap between confidence and accuracy over equal-width confidence bins.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def reliability(probs: np.ndarray, y_true: Sequence[int], n_bins: int = 15) -> dict[str, Any]:
    """Reliability table, ECE, maximum calibration error, NLL and Brier score.

    Returns ``{"n", "n_bins", "ece", "mce", "nll", "brier", "mean_confidence",
    "bins": [{"low", "high", "count", "confidence", "accuracy"}]}``; scores are
    None for an empty input and bin statistics None for empty bins.

    >>> r = reliability(np.array([[0.9, 0.1], [0.2, 0.8]]), [0, 0], n_bins=5)
    >>> round(r["ece"], 3)
    0.45
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    empty_bins = [
        {"low": float(edges[i]), "high": float(edges[i + 1]), "count": 0, "confidence": None, "accuracy": None}
        for i in range(n_bins)
    ]
    result: dict[str, Any] = {
        "n": int(y_true.size),
        "n_bins": int(n_bins),
        "ece": None,
        "mce": None,
        "nll": None,
        "brier": None,
        "mean_confidence": None,
        "bins": empty_bins,
    }
    if y_true.size == 0 or probs.ndim != 2 or probs.shape[0] != y_true.size:
        return result
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    # Bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes to bin 0.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct, minlength=n_bins)
    bins = []
    gaps = []
    for i in range(n_bins):
        if counts[i]:
            conf, acc = conf_sum[i] / counts[i], acc_sum[i] / counts[i]
            gaps.append(abs(conf - acc))
            bins.append(
                {"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(counts[i]),
                 "confidence": float(conf), "accuracy": float(acc)}
            )
        else:
            gaps.append(0.0)
            bins.append(empty_bins[i])
    weights = counts / counts.sum()
    in_range = (y_true >= 0) & (y_true < probs.shape[1])
    true_prob = np.where(in_range, probs[np.arange(y_true.size), np.clip(y_true, 0, probs.shape[1] - 1)], 0.0)
    onehot = np.zeros_like(probs)
    onehot[np.arange(y_true.size)[in_range], y_true[in_range]] = 1.0
    result.update(
        ece=float(np.sum(weights * np.asarray(gaps))),
        mce=float(max(g for g, c in zip(gaps, counts) if c)),
        nll=float(-np.mean(np.log(np.clip(true_prob, 1e-12, 1.0)))),
        brier=float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
        mean_confidence=float(confidence.mean()),
        bins=bins,
    )
    return result
