"""The one evaluation path of exported models, for both modalities (no torch).

Face and voice evaluation both end here: :func:`score` turns true labels and
predicted probabilities into the metrics dict (accuracy, UAR, macro-F1,
per-class, confusion matrix) plus what was evaluated, and
:func:`write_eval_run` writes the same run directory that training writes
(``metrics.json`` + ``predictions.npz``), so ``emorec report DIR`` works for an
evaluation of either side.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emorec.evaluation.metrics import classification_metrics


def score(y_true: Sequence[int], probs: np.ndarray, labels: list[str], *, y_pred: Sequence[int] | None = None,
          **info: Any) -> dict[str, Any]:
    """Metrics of ``probs`` (N, len(labels)) against ``y_true``, with ``info`` fields added.

    ``y_pred`` defaults to the argmax of ``probs``.
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(len(y_true), len(labels)) if len(y_true) else \
        np.zeros((0, len(labels)), np.float32)
    pred = list(y_pred) if y_pred is not None else probs.argmax(1).tolist()
    metrics = classification_metrics(list(y_true), pred, labels)
    metrics.update(info)
    return metrics


def write_eval_run(out: str | Path, metrics: dict[str, Any], y_true: Sequence[int], probs: np.ndarray,
                   groups: Sequence[str] = (), paths: Sequence[str] = ()) -> Path:
    """Write ``out/metrics.json`` and ``out/predictions.npz`` (the run-directory format)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    n = len(y_true)
    np.savez_compressed(
        out / "predictions.npz",
        y_true=np.asarray(y_true, dtype=np.int64),
        probs=np.asarray(probs, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 0), np.float32),
        groups=np.asarray(list(groups) if len(groups) else [""] * n),
        paths=np.asarray(list(paths) if len(paths) else [""] * n),
    )
    return out
