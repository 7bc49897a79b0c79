"""Export a voice run to ONNX plus its model card (checked against torch under ONNX Runtime)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from emorec.errors import EmorecError
from emorec.training.rundir import read_run_config as _read_run_config
from emorec.training.voice.members import _architecture, build_run_model
from emorec.voice.features import FeatureConfig


def read_run_config(run_dir: Path) -> dict[str, Any]:
    return _read_run_config(run_dir, search_parent=True, kind="voice")


def load_run_model(run_dir: str | Path):
    """Rebuild a trained model (eval mode, CPU) and its config from a run or fold folder.

    A folder with ``member_XX/best.safetensors`` (``--ensemble N``) gives an :class:`Ensemble`.
    """
    from safetensors.torch import load_file

    from emorec.training.voice.models import Ensemble

    run_dir = Path(run_dir)
    data = read_run_config(run_dir)
    n = int(data.get("ensemble") or 1)
    # Members by folder name, as many as the config says (leftovers of a larger earlier run are ignored).
    weights = [run_dir / f"member_{k:02d}" / "best.safetensors" for k in range(1, n + 1)] if n > 1 else \
        [run_dir / "best.safetensors"]
    missing = [w for w in weights if not w.is_file()]
    if missing:
        raise EmorecError(f"{run_dir} lacks {missing[0].relative_to(run_dir)}: pass a finished run or one of its "
                          "fold_XX folders (or finish it with --resume)")
    models = []
    for k, w in enumerate(weights, start=1):
        model = build_run_model(data, len(data["labels"]), member=k)
        model.load_state_dict(load_file(str(w)))
        models.append(model.eval())
    return (models[0] if len(models) == 1 else Ensemble(models).eval()), data


def export_voice(run_dir: str | Path, out: str | Path, metrics_from: str | Path | None = None,
                 name: str | None = None, overwrite: bool = False, compact: bool = False) -> Path:
    """Export a run's best weights to ONNX plus the voice model card, and check them under onnxruntime.

    ``compact=True`` stores the weights as int8/float16 (:func:`compact_weights`, about 4x smaller).
    """

    from emorec.training.export import COMPACT_NOTE, check_parity, compact_weights, corpus_names, headline, write_card
    from emorec.training.voice.models import export_onnx

    run_dir, out = Path(run_dir), Path(out)
    if out.suffix != ".onnx":
        raise EmorecError(f"--out {out} must end in .onnx (the card goes beside it as .json)")
    if out.exists() and not overwrite:
        raise EmorecError(f"{out} exists: pass --overwrite to replace it")
    model, data = load_run_model(run_dir)
    feat = FeatureConfig.from_dict(data["features"])
    labels = list(data["labels"])
    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out, feat.dim)

    # The exported graph must agree with torch on a real-sized input.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 250, feat.dim) if feat.is_sequence else (2, feat.dim)).astype(np.float32)
    check_parity(out, x, lambda t: torch.softmax(model(t), -1), what=str(run_dir))
    if compact:
        fp32 = out.with_name(out.stem + ".fp32.onnx")
        out.replace(fp32)
        try:
            compact_weights(fp32, out)
        finally:
            fp32.unlink(missing_ok=True)

    source = Path(metrics_from) if metrics_from else run_dir
    metrics_file = source / "metrics.json" if source.is_dir() else source
    metrics: dict[str, Any] = {}
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text(encoding="utf-8"))
        if not m.get("trained_on_all"):
            metrics = {**headline(m), "protocol": m.get("protocol"), "dataset": m.get("dataset"),
                       "command": m.get("command"), "source": str(metrics_file)}
    n_params = sum(p.numel() for p in model.parameters())
    write_card(
        out,
        name=name or f"emorec-voice-{data['model']}",
        task="voice",
        labels=labels,
        input={
            "sample_rate": feat.sample_rate,
            "features": feat.to_dict(),
            "kind": "sequence" if feat.is_sequence else "vector",
            "layout": "(batch, frames, dim)" if feat.is_sequence else "(batch, dim)",
            "min_seconds": data.get("min_seconds", 0.5),
            "max_seconds": data.get("segment_seconds", 5.0),
            "outputs_probabilities": True,
            "weights": COMPACT_NOTE if compact else "float32",
            "policy": "mono, resampled to 16 kHz; leading/trailing silence trimmed; speech shorter than "
                      "min_seconds gives an empty result (no padding); longer recordings are split by VAD "
                      "into segments of at most max_seconds",
        },
        architecture=_architecture(data) + f" ({n_params} parameters)",
        training={
            "data": data.get("corpora"),
            "protocol": data.get("protocol"),
            "labels_from": data.get("corpus"),
            "label_map": data.get("label_map"),
            "config": {k: data.get(k) for k in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing",
                                                 "feature_augment", "augment", "wave_copies", "mixup", "ensemble",
                                                 "train_seconds", "seed")},
            "command": data.get("command"),
            "run_dir": str(run_dir),
        },
        metrics=metrics,
        datasets=corpus_names(data.get("corpus") or []),
        notes="Acted speech; expect lower accuracy on spontaneous speech, other languages and noisy audio."
        + (" Metrics are those of the float32 fold models; benchmarks/voice_compact.py measures what the "
           "compact weights change." if compact else ""),
    )
    return out
