"""A small, explicit trainer shared by the face and voice pipelines.

AdamW with linear warm-up and cosine decay, class-balanced cross-entropy,
early stopping on validation balanced accuracy, a checkpoint every epoch
(``--resume`` continues from it), best weights as safetensors, a JSON line
per epoch in ``history.jsonl`` and a tqdm bar with live loss and accuracy.
"""
from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    patience: int = 12  # epochs without val improvement before stopping; 0 = never stop early
    label_smoothing: float = 0.0
    class_balanced: bool = True
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    num_workers: int = 0
    grad_clip: float = 5.0
    min_epochs: int = 0  # never stop before this epoch
    monitor: str = "balanced_accuracy"  # validation score for early stopping: balanced_accuracy | accuracy


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    epochs_run: int
    history: list[dict[str, Any]] = field(default_factory=list)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weights(counts: Sequence[int]) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1; empty classes get weight 0."""
    c = torch.as_tensor(counts, dtype=torch.float32)
    w = torch.where(c > 0, c.sum() / (len(c) * c.clamp(min=1)), torch.zeros_like(c))
    return w / w[c > 0].mean()


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    recalls = [float((pred[y == k] == k).mean()) for k in range(n_classes) if (y == k).any()]
    return float(np.mean(recalls)) if recalls else 0.0


# A loss hook gets (model, batch moved to device, trainer) and returns (loss, logits, targets).
LossFn = Callable[[nn.Module, tuple, "Trainer"], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        out_dir: str | Path,
        class_counts: Sequence[int] | None = None,
        loss_fn: LossFn | None = None,
        n_classes: int | None = None,
    ) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.n_classes = n_classes or (len(class_counts) if class_counts is not None else None)
        weight = None
        if config.class_balanced and class_counts is not None:
            weight = class_weights(class_counts).to(self.device)
        self.criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
        self.loss_fn = loss_fn or _default_loss
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.use_amp = config.amp and self.device.type == "cuda"

    # -- helpers ---------------------------------------------------------
    def _to_device(self, batch: Iterable[Any]) -> tuple:
        return tuple(t.to(self.device, non_blocking=True) if torch.is_tensor(t) else t for t in batch)

    def _lr_at(self, step: int, total: int, warmup: int) -> float:
        if step < warmup:
            return self.config.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return self.config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _autocast(self):
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return torch.autocast(device_type="cpu", enabled=False)

    def _save_checkpoint(self, epoch: int, best: tuple[float, int], bad: int, history: list) -> None:
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_score": best[0],
            "best_epoch": best[1],
            "bad_epochs": bad,
            "history": history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }
        tmp = self.out_dir / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out_dir / "checkpoint.pt")

    def save_best(self) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(self.out_dir / "best.safetensors"))

    def load_best(self) -> None:
        from safetensors.torch import load_file

        path = self.out_dir / "best.safetensors"
        if path.is_file():
            self.model.load_state_dict(load_file(str(path), device=str(self.device)))

    # -- main loop -------------------------------------------------------
    def fit(self, train_loader: Iterable, val_loader: Iterable | None, resume: bool = False) -> FitResult:
        cfg = self.config
        steps_per_epoch = max(1, len(train_loader))  # type: ignore[arg-type]
        total = cfg.epochs * steps_per_epoch
        warmup = cfg.warmup_epochs * steps_per_epoch
        start_epoch, best, bad, history = 1, (-1.0, 0), 0, []
        ckpt_path = self.out_dir / "checkpoint.pt"
        if resume and ckpt_path.is_file():
            state = torch.load(ckpt_path, map_location=self.device, weights_only=False)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            start_epoch = state["epoch"] + 1
            best, bad, history = (state["best_score"], state["best_epoch"]), state["bad_epochs"], state["history"]
            torch.set_rng_state(state["rng"]["torch"])
            np.random.set_state(state["rng"]["numpy"])
            random.setstate(state["rng"]["python"])
        hist_file = self.out_dir / "history.jsonl"
        hist_file.write_text("".join(json.dumps(h) + "\n" for h in history), encoding="utf-8")
        epoch = start_epoch - 1
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_acc = self._train_epoch(train_loader, epoch, steps_per_epoch, total, warmup)
            row: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "lr": self.optimizer.param_groups[0]["lr"],
            }
            score = float(epoch)  # no validation: fixed-length training keeps the last epoch
            if val_loader is not None:
                val = self.evaluate(val_loader)
                row.update(val_loss=val["loss"], val_acc=val["accuracy"], val_bacc=val["balanced_accuracy"])
                score = val[cfg.monitor]
            row["seconds"] = round(time.perf_counter() - t0, 3)
            history.append(row)
            with hist_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            if score > best[0]:
                best, bad = (score, epoch), 0
                self.save_best()
            else:
                bad += 1
            self._save_checkpoint(epoch, best, bad, history)
            tqdm.write(
                f"epoch {epoch}/{cfg.epochs} loss {train_loss:.3f} acc {train_acc:.3f}"
                + (f" | val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f} bacc {row['val_bacc']:.3f}" if val_loader is not None else "")
                + f" | {row['seconds']:.1f}s"
            )
            if cfg.patience and bad >= cfg.patience and epoch >= cfg.min_epochs:
                tqdm.write(f"early stop: no improvement for {bad} epochs (best epoch {best[1]})")
                break
        self.load_best()
        return FitResult(best_epoch=best[1], best_score=best[0], epochs_run=epoch, history=history)

    def _train_epoch(self, loader: Iterable, epoch: int, steps: int, total: int, warmup: int) -> tuple[float, float]:
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(loader, total=steps, desc=f"epoch {epoch}", leave=False, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            step = (epoch - 1) * steps + i
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr_at(step, total, warmup)
            batch = self._to_device(batch)
            with self._autocast():
                loss, logits, y = self.loss_fn(self.model, batch, self)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            n = y.shape[0]
            loss_sum += float(loss.detach()) * n
            if y.dim() == 1:
                correct += int((logits.argmax(1) == y).sum())
            seen += n
            if i % 10 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        return loss_sum / max(1, seen), correct / max(1, seen)

    @torch.no_grad()
    def predict_logits(self, loader: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """(logits, targets) for every batch of ``loader`` in order, in eval mode."""
        self.model.eval()
        outs, ys = [], []
        for batch in loader:
            batch = self._to_device(batch)
            with self._autocast():
                logits = self.model(*batch[:-1])
            outs.append(logits.float().cpu())
            ys.append(batch[-1].cpu())
        if not outs:
            return np.zeros((0, self.n_classes or 0), np.float32), np.zeros(0, np.int64)
        return torch.cat(outs).numpy(), torch.cat(ys).numpy()

    def predict(self, loader: Iterable) -> np.ndarray:
        logits, _ = self.predict_logits(loader)
        return torch.softmax(torch.from_numpy(logits), 1).numpy()

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        logits, y = self.predict_logits(loader)
        if len(y) == 0:
            return {"loss": float("nan"), "accuracy": 0.0, "balanced_accuracy": 0.0}
        loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y).long()))
        pred = logits.argmax(1)
        return {
            "loss": loss,
            "accuracy": float((pred == y).mean()),
            "balanced_accuracy": _balanced_accuracy(y, pred, logits.shape[1]),
        }


def _default_loss(model: nn.Module, batch: tuple, trainer: Trainer):
    *inputs, y = batch
    logits = model(*inputs)
    return trainer.criterion(logits.float(), y), logits, y


def config_dict(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
