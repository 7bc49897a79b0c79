"""Models of one fold: building run models, ensemble members, mixup, fitting and resuming them."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emorec.errors import EmorecError
from emorec.training.trainer import Trainer, resolve_device, set_seed
from emorec.training.voice.augment import FeatureAugmentConfig
from emorec.training.voice.config import VoiceTrainConfig
from emorec.training.voice.data import VoiceItems, _eval_items, _loader, _workers
from emorec.voice.features import FeatureConfig, finalize


def _train_config(cfg: VoiceTrainConfig, validate: bool):
    return cfg.train_config(validate=validate, num_workers=max(0, cfg.num_workers))


def member_kwargs(data: dict[str, Any], member: int) -> dict[str, Any]:
    """Model options of ensemble member ``member`` (1-based) of a sequence model."""
    from emorec.training.voice.models import VECTOR_MODELS

    kwargs = dict(data.get("model_kwargs") or {})
    extra = data.get("ensemble_kwargs") or []
    if extra and data["model"] not in VECTOR_MODELS:
        kwargs.update(extra[(member - 1) % len(extra)])
    return kwargs


def build_run_model(cfg: VoiceTrainConfig | dict[str, Any], n_classes: int, member: int = 1):
    from emorec.training.voice.models import build_model

    data = asdict(cfg) if isinstance(cfg, VoiceTrainConfig) else cfg
    feat = FeatureConfig.from_dict(data["features"])
    kwargs = member_kwargs(data, member)
    name = kwargs.pop("model", data["model"])  # an ensemble member may use another architecture
    if name == "crnn" and "in_channels" not in kwargs:
        kwargs["in_channels"] = 1 + feat.deltas
    model = build_model(name, feat.dim, n_classes, **kwargs)
    if model.input_kind == "vector" and feat.is_sequence:
        raise EmorecError(f"model {name} reads one vector per clip: use --features summary162 or egemaps")
    if model.input_kind == "sequence" and not feat.is_sequence:
        raise EmorecError(f"model {name} reads frame sequences: use --features logmel or mfcc")
    return model


def _mixup_loss(prob: float, alpha: float = 0.4):
    """Mixup on a fraction of batches: inputs and targets mixed with a shuffled copy of the batch."""

    def loss_fn(model, batch, trainer):
        *inputs, y = batch
        if prob <= 0 or torch.rand(1).item() >= prob:
            logits = model(*inputs).float()
            return trainer.criterion(logits, y), logits, y
        lam = float(np.random.beta(alpha, alpha))
        perm = torch.randperm(y.shape[0], device=y.device)
        x = lam * inputs[0] + (1 - lam) * inputs[0][perm]
        rest = [torch.maximum(inputs[1], inputs[1][perm])] if len(inputs) > 1 else []
        logits = model(x, *rest).float()
        loss = lam * trainer.criterion(logits, y) + (1 - lam) * trainer.criterion(logits, y[perm])
        return loss, logits, y

    return loss_fn


class Members:
    """The trained model(s) of one fold: ``predict`` averages the members' probabilities."""

    def __init__(self, trainers: list[Trainer]) -> None:
        self.trainers = trainers

    def predict(self, loader) -> np.ndarray:
        return np.mean([t.predict(loader) for t in self.trainers], axis=0)


def _fit(cfg: VoiceTrainConfig, bases, copies, y, labels, fit_idx, val_idx, out_dir: Path, resume: bool) -> Members:
    """Train ``cfg.ensemble`` models (seeds seed, seed+101, ...); extra members live in ``member_XX/``."""
    if cfg.ensemble <= 1:
        return Members([_fit_one(cfg, bases, copies, y, labels, fit_idx, val_idx, out_dir, resume, member=1)])
    trainers = []
    for k in range(1, cfg.ensemble + 1):
        member_cfg = VoiceTrainConfig(**{**asdict(cfg), "seed": cfg.seed + 101 * (k - 1)})
        member_dir = out_dir / f"member_{k:02d}"
        trainers.append(_fit_one(member_cfg, bases, copies, y, labels, fit_idx, val_idx, member_dir, resume, member=k))
        (member_dir / "checkpoint.pt").unlink(missing_ok=True)
    # The fold's own history.jsonl is the first member's, so tools reading run dirs find one.
    (out_dir / "history.jsonl").write_text((out_dir / "member_01" / "history.jsonl").read_text(), encoding="utf-8")
    return Members(trainers)


def _fit_one(cfg: VoiceTrainConfig, bases, copies, y, labels, fit_idx, val_idx, out_dir: Path, resume: bool,
             member: int = 1) -> Trainer:
    from emorec.training.voice.models import frame_norm_numpy

    set_seed(cfg.seed)
    feat = cfg.feature_config()
    model = build_run_model(cfg, len(labels), member)
    if model.input_kind == "vector":  # standardise summary vectors with training-fold statistics
        stack = np.stack([np.asarray(bases[i], dtype=np.float32) for i in fit_idx])
        model.norm.set_stats(stack.mean(0), stack.std(0))
    else:  # channel statistics of the (unaugmented) training fold after the model's frame norm, kept in the model
        mode = model.frame_norm.mode
        frames = np.concatenate([frame_norm_numpy(finalize(bases[i], feat), mode) for i in fit_idx])
        model.norm.set_stats(frames.mean(0), frames.std(0))
    max_train = int(cfg.train_seconds * feat.frames_per_second)
    augment = FeatureAugmentConfig.from_dict(cfg.augment) if cfg.feature_augment else None
    train_items = VoiceItems([bases[i] for i in fit_idx], y[fit_idx], feat, True, max_train,
                             [copies[i] for i in fit_idx], augment, seed=cfg.seed)
    validate = len(val_idx) > 0
    val_items = _eval_items(cfg, bases, y, val_idx) if validate else None
    counts = np.bincount(y[fit_idx], minlength=len(labels))
    trainer = Trainer(model, _train_config(cfg, validate), out_dir, class_counts=counts.tolist(),
                      loss_fn=_mixup_loss(cfg.mixup) if cfg.mixup > 0 else None)
    spec = member_spec(cfg, member)
    if resume and member_finished(out_dir, spec, cfg.epochs):
        # A finished member is reused, so --resume with a larger --ensemble trains only the new members.
        trainer.load_best()
        return trainer
    # No cudnn.benchmark: every batch has its own length, and autotuning each shape costs more than it saves.
    if resolve_device(cfg.device).type != "cuda" and cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer.fit(
        _loader(train_items, cfg.batch_size, True, cfg.seed, _workers(cfg)),
        _loader(val_items, 64, False, cfg.seed) if val_items is not None else None,
        resume=resume,
    )
    (out_dir / FINISHED).write_text(json.dumps(spec, sort_keys=True) + "\n", encoding="utf-8")
    return trainer


def _architecture(data: dict[str, Any]) -> str:
    """E.g. "gru_attn, ensemble of 3" or "ensemble of 5: 3 gru_attn + 2 lstm_attn" for mixed members."""
    n = int(data.get("ensemble") or 1)
    names = [member_spec(data, k)["model"] for k in range(1, n + 1)]
    if n <= 1:
        return f"{names[0]} {data.get('model_kwargs') or ''}".strip()
    if len(set(names)) == 1:
        return f"{names[0]}, ensemble of {n}"
    counts = {name: names.count(name) for name in dict.fromkeys(names)}
    return f"ensemble of {n}: " + " + ".join(f"{c} {name}" for name, c in counts.items())


FINISHED = "finished.json"  # written after a member's training ends: its architecture and options


def member_spec(cfg: VoiceTrainConfig | dict[str, Any], member: int) -> dict[str, Any]:
    """The architecture and options that ensemble member ``member`` is built with."""
    data = asdict(cfg) if isinstance(cfg, VoiceTrainConfig) else cfg
    kwargs = member_kwargs(data, member)
    return {"model": kwargs.pop("model", data["model"]), "kwargs": kwargs}


def member_finished(member_dir: Path, spec: dict[str, Any], epochs: int) -> bool:
    """True when a member trained to the end with the options ``spec``; a mismatch is an error.

    Members trained before the ``finished.json`` marker existed count as finished when their
    checkpoint was removed and their history holds all ``epochs`` epochs.
    """
    marker = member_dir / FINISHED
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done != json.loads(json.dumps(spec, sort_keys=True)):
            raise EmorecError(f"{member_dir} was trained as {done}, but the config now asks for {spec}: "
                              "resume with the original ensemble options, or use a new --out")
        return (member_dir / "best.safetensors").is_file()
    history = member_dir / "history.jsonl"
    if not (member_dir / "best.safetensors").is_file() or (member_dir / "checkpoint.pt").is_file():
        return False
    rows = [line for line in history.read_text(encoding="utf-8").splitlines() if line.strip()] if history.is_file() else []
    return len(rows) == epochs
