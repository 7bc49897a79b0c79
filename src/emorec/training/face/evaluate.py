"""Evaluate an exported ONNX face model on a dataset split (no torch), through :mod:`emorec.evaluation.onnx_eval`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emorec.datasets.registry import load_face_dataset
from emorec.errors import DatasetError
from emorec.evaluation.onnx_eval import score, write_eval_run
from emorec.face.preprocess import normalise


def predict_crops(model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    spec = model.card.input
    out = [model.run(normalise(images[i : i + batch_size], spec)) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, len(model.labels)), np.float32)


def evaluate_onnx(dataset: str, data: str | None, split: str | None, model_path: Path | None,
                  out: Path | None = None) -> dict[str, Any]:
    """Metrics of an ONNX model on a dataset split, over the labels both share."""
    from emorec.runtime import OnnxModel, packaged_model

    model = OnnxModel.load(model_path or packaged_model("face"))
    ds = load_face_dataset(dataset, data)
    if split and split != "all":
        keep = np.flatnonzero(ds.splits == split)
        if len(keep) == 0:
            raise DatasetError(f"no items with split {split!r} in {dataset}; found {sorted(set(ds.splits.tolist()))}")
        ds = ds.subset(keep)
    missing = sorted(set(ds.labels) - set(model.labels))
    if missing:
        keep = [i for i, s in enumerate(ds.samples) if s.label in model.labels]
        ds = ds.subset(keep)
    if len(ds) == 0:
        raise DatasetError("the test set is empty after matching labels to the model")
    size = tuple(model.card.input["size"])
    probs = predict_crops(model, ds.images(size))
    y = np.array([model.labels.index(s.label) for s in ds.samples])
    metrics = score(y, probs, model.labels,
                    dataset=dataset, split=split, protocol=f"official split {split}" if split else "all items",
                    model=str(model.path), model_card=model.card.to_dict(),
                    dropped_labels=missing,
                    command=f"emorec face evaluate --dataset {dataset} --split {split}")
    if out is not None:
        write_eval_run(out, metrics, y, probs, ds.subjects, [s.path for s in ds.samples])
    return metrics
