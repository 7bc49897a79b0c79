"""Export a face run to ONNX (optionally int8) plus its model card."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from emorec.datasets.registry import load_face_dataset
from emorec.errors import EmorecError
from emorec.face.preprocess import normalise
from emorec.training.face.evaluate import evaluate_onnx


def export_face(run_dir: Path, out: Path, quantize: bool = False, tta_flip: bool = False,
                name: str | None = None, data: str | None = None) -> Path:
    import torch

    from emorec.training.export import check_parity, export_onnx, face_probabilities, headline, quantize_int8, read_metrics, write_card
    from emorec.training.face.train import load_run_model

    run_dir = Path(run_dir)
    model, cfg = load_run_model(run_dir)
    labels = cfg["labels"]
    spec = dict(cfg["input"])
    spec["outputs_probabilities"] = True
    spec["tta_flip"] = tta_flip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and out.resolve().parent == Path(run_dir).resolve():
        raise EmorecError(f"{out} exists inside the run directory: choose another --out")
    example = torch.zeros(1, 1, *spec["size"])
    probe = np.random.default_rng(0).standard_normal((4, 1, *spec["size"])).astype(np.float32)
    if quantize:
        fp32 = out.with_suffix(".fp32.onnx")
        export_onnx(model, example, fp32, tta_flip=tta_flip)
        check_parity(fp32, probe, face_probabilities(model, tta_flip), what=str(run_dir))
        ds = load_face_dataset(cfg["dataset"], data or cfg.get("data"))
        rng = np.random.default_rng(0)
        idx = rng.choice(len(ds), size=min(1024, len(ds)), replace=False)
        calib = normalise(ds.subset(idx).images(tuple(spec["size"]), progress=False), spec)
        quantize_int8(fp32, out, calib)
        fp32.unlink()
        spec["weights"] = "int8 static (QDQ, per-channel), 1024 calibration images from the training data"
    else:
        export_onnx(model, example, out, tta_flip=tta_flip)
        check_parity(out, probe, face_probabilities(model, tta_flip), what=str(run_dir))
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
        datasets=[cfg["dataset"], *_source_datasets([cfg.get("init_from"), *(cfg.get("teacher") or [])])],
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


def _source_datasets(runs: list) -> list[str]:
    """Datasets of the runs a model was fine-tuned or distilled from (their terms apply too)."""
    from emorec.training.rundir import read_run_config

    names = []
    for run in runs:
        if not run:
            continue
        folder = Path(run) if Path(run).is_dir() else Path(run).parent
        try:
            names.append(read_run_config(folder)["dataset"])
        except (EmorecError, KeyError, TypeError):
            continue
    return names
