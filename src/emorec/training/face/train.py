"""Face training pipeline: dataset -> protocol -> trainer -> run directory.

The run directory layout is :mod:`emorec.training.rundir`'s; k-fold runs go
through the shared fold loop :func:`emorec.training.folds.run_folds`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from emorec.datasets.registry import load_face_dataset
from emorec.datasets.splits import (
    assert_disjoint,
    group_validation_split,
    official_split,
    random_split,
    subject_kfold,
)
from emorec.errors import EmorecError
from emorec.evaluation.metrics import classification_metrics, pooled_and_per_fold
from emorec.face.preprocess import DEFAULT_INPUT
from emorec.training.config import BaseTrainConfig, save_config
from emorec.training.face.augment import FaceAugment
from emorec.training.face.models import create_model
from emorec.training.folds import FoldSpec, run_folds
from emorec.training.rundir import config_command, merge_fold_predictions, read_run_config, summary
from emorec.training.trainer import Trainer, resolve_device, set_seed

__all__ = ["FaceTrainConfig", "load_run_model", "read_run_config", "run_training", "summary"]



@dataclass
class FaceTrainConfig(BaseTrainConfig):
    dataset: str = "fer2013"  # fer2013 | ckplus48 | ckextended | folder | fer-csv
    data: str | None = None  # data root (else $EMOREC_DATA) or the dataset path itself
    protocol: str = "official"  # official | subject-kfold | random
    folds: int = 10
    only_folds: list[int] = field(default_factory=list)  # run a subset of folds (1-based); empty = all
    test_fraction: float = 0.2  # random protocol
    val_fraction: float = 0.15  # carved out of training folds (by subject); 0 = fixed epochs, no early stopping
    model: str = "emonet"
    epochs: int = 60
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    patience: int = 15
    min_epochs: int = 0
    label_smoothing: float = 0.1
    class_balanced: bool = True
    monitor: str = "balanced_accuracy"  # early-stopping score on the validation split
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    augment: dict[str, float] = field(default_factory=lambda: asdict(FaceAugment()))
    mixup: float = 0.0  # mixup/cutmix probability per batch
    init_from: str | None = None  # run dir or .safetensors to fine-tune from (head re-initialised if labels differ)
    teacher: list[str] = field(default_factory=list)  # run dirs of teacher models for distillation
    kd_alpha: float = 0.7
    kd_temperature: float = 4.0
    limit: int = 0  # use at most this many training items (quick runs and tests)
    out: str = "runs/face"


# -- data -----------------------------------------------------------------

class FaceBatches:
    """Mini-batches from uint8 images held on the training device; augments only if asked."""

    def __init__(self, images: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device,
                 shuffle: bool = False, augment: FaceAugment | None = None, seed: int = 0) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator = torch.Generator().manual_seed(seed)
        self.mean, self.std = float(DEFAULT_INPUT["mean"]), float(DEFAULT_INPUT["std"])

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for i in range(0, n, self.batch_size):
            idx = order[i : i + self.batch_size]
            x = (self.x[idx].float().unsqueeze(1) / 255.0 - self.mean) / self.std
            if self.augment is not None:
                x = self.augment(x)
            yield x, self.y[idx]


# -- models ---------------------------------------------------------------

def load_run_model(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a trained model (eval mode) and its run config from a run directory (config + best.safetensors).

    Same shape as the voice side's ``load_run_model``: ``(model, config)``; the labels are ``config["labels"]``.
    """
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    labels = cfg["labels"]
    weights = run_dir / "best.safetensors"
    if not weights.is_file():
        raise EmorecError(f"{run_dir} has no best.safetensors: train it first or pick a fold folder")
    model = create_model(cfg["model"], len(labels))
    model.load_state_dict(load_file(str(weights)))
    return model.to(device).eval(), cfg


def _init_weights(model: torch.nn.Module, source: str) -> None:
    """Copy matching tensors from a run dir or safetensors file (a different head is skipped)."""
    from safetensors.torch import load_file

    path = Path(source)
    if path.is_dir():
        path = path / "best.safetensors"
    if not path.is_file():
        raise EmorecError(f"--init-from {source}: no weights found (expected a run dir or .safetensors)")
    own = model.state_dict()
    loaded = {k: v for k, v in load_file(str(path)).items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(loaded, strict=False)


def _kd_loss(teachers: list[torch.nn.Module], alpha: float, temperature: float, label_map: torch.Tensor):
    """Distillation: CE on labels plus KL to the teachers' averaged soft targets."""

    def loss_fn(model, batch, trainer):
        x, y = batch
        logits = model(x).float()
        hard = trainer.criterion(logits, y)
        with torch.no_grad():
            soft = torch.stack([F.softmax(t(x).float()[:, label_map] / temperature, 1) for t in teachers]).mean(0)
        kd = F.kl_div(F.log_softmax(logits / temperature, 1), soft, reduction="batchmean") * temperature**2
        return (1 - alpha) * hard + alpha * kd, logits, y

    return loss_fn


def _cutmix_loss(prob: float):
    """CutMix on a fraction of batches (after augmentation), CE against mixed targets."""

    def loss_fn(model, batch, trainer):
        x, y = batch
        if torch.rand(1).item() >= prob:
            logits = model(x).float()
            return trainer.criterion(logits, y), logits, y
        lam = float(np.random.beta(1.0, 1.0))
        perm = torch.randperm(x.shape[0], device=x.device)
        h, w = x.shape[2:]
        ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
        cy, cx = np.random.randint(h), np.random.randint(w)
        y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
        logits = model(x).float()
        loss = lam * trainer.criterion(logits, y) + (1 - lam) * trainer.criterion(logits, y[perm])
        return loss, logits, y

    return loss_fn


# -- one training run -----------------------------------------------------

def _fit(cfg: FaceTrainConfig, images: np.ndarray, y: np.ndarray, labels: list[str],
         train: np.ndarray, val: np.ndarray | None, out_dir: Path, resume: bool) -> Trainer:
    set_seed(cfg.seed)
    device = resolve_device(cfg.device)
    model = create_model(cfg.model, len(labels))
    if cfg.init_from:
        _init_weights(model, cfg.init_from)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    counts = np.bincount(y[train], minlength=len(labels))
    loss_fn = _cutmix_loss(cfg.mixup) if cfg.mixup > 0 else None
    if cfg.teacher:
        teachers, maps = [], []
        for t in cfg.teacher:
            tm, tcfg = load_run_model(t, device)
            tlabels = tcfg["labels"]
            if not set(labels) <= set(tlabels):
                raise EmorecError(f"teacher {t} lacks labels {sorted(set(labels) - set(tlabels))}")
            teachers.append(tm)
            maps.append([tlabels.index(name) for name in labels])
        loss_fn = _kd_loss(teachers, cfg.kd_alpha, cfg.kd_temperature, torch.tensor(maps[0], device=device))
    trainer = Trainer(model, cfg.train_config(), out_dir, class_counts=counts.tolist(), loss_fn=loss_fn)
    augment = FaceAugment(**cfg.augment)
    train_batches = FaceBatches(images[train], y[train], cfg.batch_size, device, shuffle=True, augment=augment, seed=cfg.seed)
    val_batches = FaceBatches(images[val], y[val], 512, device) if val is not None and len(val) else None
    trainer.fit(train_batches, val_batches, resume=resume)
    return trainer


def _evaluate_fold(trainer: Trainer, images: np.ndarray, y: np.ndarray, test: np.ndarray, labels: list[str],
                   groups: np.ndarray, paths: np.ndarray, out_dir: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Predict the held-out items with the best weights (plus flip averaging) and save metrics."""
    batches = FaceBatches(images[test], y[test], 512, trainer.device)
    probs = trainer.predict(batches)
    flipped = FaceBatches(images[test][:, :, ::-1].copy(), y[test], 512, trainer.device)
    probs_tta = (probs + trainer.predict(flipped)) / 2
    metrics = classification_metrics(y[test], probs_tta.argmax(1), labels)
    metrics["without_flip_tta"] = {k: classification_metrics(y[test], probs.argmax(1), labels)[k]
                                   for k in ("accuracy", "balanced_accuracy", "macro_f1")}
    metrics.update(extra)
    np.savez_compressed(out_dir / "predictions.npz", y_true=y[test], probs=probs_tta.astype(np.float32),
                        groups=groups[test], paths=paths[test])
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def run_training(cfg: FaceTrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train according to ``cfg.protocol`` and write the run directory ``cfg.out``."""
    ds = load_face_dataset(cfg.dataset, cfg.data)
    labels = ds.labels
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    extra_cfg = {"labels": labels, "input": DEFAULT_INPUT, "n_items": len(ds)}
    save_config(cfg, out / "config.yaml", extra_cfg)
    images = ds.images()
    y, groups, splits = ds.y, ds.subjects, ds.splits
    paths = np.array([s.path for s in ds.samples])
    info = {"dataset": cfg.dataset, "protocol": cfg.protocol, "command": config_command(out),
            "model_card": None}

    if cfg.protocol == "official":
        fold = official_split(splits)
        train = _limit(fold.train, cfg)
        val = fold.val
        if val is None:
            train, val = _random_val(y, train, cfg)
        trainer = _fit(cfg, images, y, labels, train, val, out, resume)
        metrics = _evaluate_fold(trainer, images, y, fold.test, labels, groups, paths, out,
                                 {**info, "split": {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}})
    elif cfg.protocol == "random":
        fold = random_split(y, cfg.test_fraction, cfg.seed)
        train, val = _random_val(y, _limit(fold.train, cfg), cfg)
        trainer = _fit(cfg, images, y, labels, train, val, out, resume)
        metrics = _evaluate_fold(trainer, images, y, fold.test, labels, groups, paths, out,
                                 {**info, "split": f"random {1 - cfg.test_fraction:.0%}/{cfg.test_fraction:.0%} of images; identities may leak"})
    elif cfg.protocol == "subject-kfold":
        folds = subject_kfold(y, groups, cfg.folds, cfg.seed)

        def run_fold(spec: FoldSpec, fold_dir: Path) -> dict[str, Any]:
            fold = folds[spec.index - 1]
            if cfg.val_fraction > 0:
                train, val = group_validation_split(y, groups, _limit(fold.train, cfg), cfg.val_fraction, cfg.seed)
            else:  # fixed number of epochs on the whole training fold, no early stopping
                train, val = _limit(fold.train, cfg), np.array([], dtype=np.int64)
            assert_disjoint(np.concatenate([train, val]), fold.test, groups)
            print(f"{fold.name}: train {len(train)} / val {len(val)} / test {len(fold.test)} items, "
                  f"{len(set(groups[fold.test]))} test subjects")
            trainer = _fit(cfg, images, y, labels, train, val, fold_dir, resume)
            return _evaluate_fold(trainer, images, y, fold.test, labels, groups, paths, fold_dir,
                                  {**info, "fold": fold.name})

        specs = [FoldSpec(i, f.name, f.train, f.test) for i, f in enumerate(folds, start=1)]
        fold_metrics = run_folds(out, specs, run_fold, resume=resume, only=cfg.only_folds)
        metrics = {**pooled_and_per_fold(fold_metrics, labels), **info, "k": cfg.folds}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        merge_fold_predictions(out, [out / f.name for f in folds])
    else:
        raise EmorecError(f"unknown protocol {cfg.protocol!r}; choose official, subject-kfold or random")
    return metrics


def _limit(train: np.ndarray, cfg: FaceTrainConfig) -> np.ndarray:
    if cfg.limit and len(train) > cfg.limit:
        rng = np.random.default_rng(cfg.seed)
        return np.sort(rng.choice(train, cfg.limit, replace=False))
    return train


def _random_val(y: np.ndarray, train: np.ndarray, cfg: FaceTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    if cfg.val_fraction <= 0:
        return train, np.array([], dtype=np.int64)
    tr, va = train_test_split(train, test_size=cfg.val_fraction, stratify=y[train], random_state=cfg.seed)
    return np.sort(tr), np.sort(va)
