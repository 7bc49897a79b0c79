"""Evaluate an exported ONNX voice model on corpus clips (no torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emorec.errors import DatasetError, EmorecError
from emorec.evaluation.onnx_eval import score, write_eval_run
from emorec.training.voice.config import VoiceTrainConfig
from emorec.training.voice.corpora import corpus_records


def evaluate_onnx(model_path: str | Path | None, cfg: VoiceTrainConfig, speakers: list[str] | None = None,
                  progress: bool = True, out: str | Path | None = None) -> dict[str, Any]:
    """Run an ONNX voice model (default: the packaged one) over corpus clips and score it.

    ``out`` also writes a run directory (metrics.json, predictions.npz) that ``emorec report`` reads.
    """
    from tqdm.auto import tqdm

    from emorec.voice.recognizer import VoiceEmotionRecognizer

    rec = VoiceEmotionRecognizer(model_path)
    scans, records = corpus_records(cfg, speakers)
    labels = rec.labels
    unknown = sorted({r.label for r in records} - set(labels))
    records = [r for r in records if r.label in labels]
    if not records:
        raise DatasetError("no clips with labels the model knows: use --label-map to map them")
    y_true, y_pred, probs, failed, groups, paths = [], [], [], [], [], []
    for r in tqdm(records, desc="evaluate", disable=not progress, leave=False):
        try:
            result = rec.predict(r.path)
        except EmorecError as exc:
            failed.append(str(exc))
            continue
        if result.label is None:
            failed.append(f"{r.path}: {result.error}")
            continue
        y_true.append(labels.index(r.label))
        y_pred.append(labels.index(result.label))
        probs.append([result.scores[k] for k in labels])
        groups.append(r.speaker)
        paths.append(str(r.path))
    metrics = score(y_true, np.array(probs, dtype=np.float32), labels, y_pred=y_pred,
                    dataset="+".join(s.corpus for s in scans), protocol="external (whole corpus)" if not speakers
                    else f"speakers {','.join(speakers)}", model=str(rec.model.path), model_card=rec.model.card.name,
                    failed=len(failed), failed_examples=failed[:5], labels_not_in_model=unknown)
    if out is not None:
        write_eval_run(out, metrics, y_true, np.array(probs, dtype=np.float32), groups, paths)
    return metrics
