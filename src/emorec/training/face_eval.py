"""Evaluate ONNX face models on datasets (no torch) and export run dirs to ONNX."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emorec.datasets.registry import load_face_dataset
from emorec.errors import DatasetError, EmorecError
from emorec.evaluation.metrics import classification_metrics
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
    metrics = classification_metrics(y, probs.argmax(1), model.labels)
    metrics.update(dataset=dataset, split=split, protocol=f"official split {split}" if split else "all items",
                   model=str(model.path), model_card=model.card.__dict__,
                   dropped_labels=missing,
                   command=f"emorec face evaluate --dataset {dataset} --split {split}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        np.savez_compressed(out / "predictions.npz", y_true=y, probs=probs.astype(np.float32),
                            groups=ds.subjects, paths=np.array([s.path for s in ds.samples]))
    return metrics


def export_face(run_dir: Path, out: Path, quantize: bool = False, tta_flip: bool = False,
                name: str | None = None, data: str | None = None) -> Path:
    import torch

    from emorec.training.export import export_onnx, headline, quantize_int8, read_metrics, write_card
    from emorec.training.face_train import load_run_model, read_run_config

    run_dir = Path(run_dir)
    model, labels = load_run_model(run_dir)
    cfg = read_run_config(run_dir)
    spec = dict(cfg["input"])
    spec["outputs_probabilities"] = True
    spec["tta_flip"] = tta_flip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and out.resolve().parent == Path(run_dir).resolve():
        raise EmorecError(f"{out} exists inside the run directory: choose another --out")
    example = torch.zeros(1, 1, *spec["size"])
    if quantize:
        fp32 = out.with_suffix(".fp32.onnx")
        export_onnx(model, example, fp32, tta_flip=tta_flip)
        ds = load_face_dataset(cfg["dataset"], data or cfg.get("data"))
        rng = np.random.default_rng(0)
        idx = rng.choice(len(ds), size=min(1024, len(ds)), replace=False)
        calib = normalise(ds.subset(idx).images(tuple(spec["size"]), progress=False), spec)
        quantize_int8(fp32, out, calib)
        fp32.unlink()
        spec["quantization"] = "int8 static (QDQ, per-channel), 1024 calibration images from the training data"
    else:
        export_onnx(model, example, out, tta_flip=tta_flip)
    metrics = read_metrics(run_dir)
    write_card(
        out,
        name=name or out.stem,
        task="face",
        labels=labels,
        input=spec,
        architecture=cfg["model"],
        training={k: cfg.get(k) for k in ("dataset", "protocol", "folds", "epochs", "batch_size", "lr", "seed",
                                           "init_from", "teacher", "n_items", "command")},
        metrics={"source": "torch weights of the run, on its held-out test items", **headline(metrics),
                 "protocol": metrics.get("protocol"), "dataset": metrics.get("dataset")},
        license="Weights trained on research-only data (FER2013/CK+): research use.",
    )
    if cfg.get("protocol") == "official":
        # The card's headline is the exported file itself (int8, no torch) on the official test split.
        from emorec.cards import ModelCard

        m = evaluate_onnx(cfg["dataset"], data or cfg.get("data"), "PrivateTest", out)
        card = ModelCard.load(out.with_suffix(".json"))
        card.metrics = {
            "source": "this ONNX file through ONNX Runtime",
            "dataset": cfg["dataset"],
            "split": "PrivateTest",
            **{k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")},
            "per_class": m["per_class"],
            "confusion_matrix": m["confusion_matrix"],
            "command": f"emorec face evaluate --dataset {cfg['dataset']} --split PrivateTest --model {out.name}",
            "torch_run": headline(metrics),
        }
        card.save(out.with_suffix(".json"))
    return out
