"""Run configs: dataclasses saved as YAML beside every run so ``--config run.yaml`` reproduces it.

:class:`BaseTrainConfig` holds the optimiser and run fields that the face and
voice configs share (each modality keeps its own defaults); no torch here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import shlex
import sys
from pathlib import Path
from typing import Any, TypeVar

import yaml

from emorec.errors import EmorecError

T = TypeVar("T")


@dataclass
class BaseTrainConfig:
    """Fields every training run has; :meth:`train_config` turns them into the trainer's options."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    patience: int = 12  # epochs without validation improvement before stopping
    min_epochs: int = 0  # never stop before this epoch
    label_smoothing: float = 0.0
    class_balanced: bool = True  # inverse-frequency class weights in the loss
    monitor: str = "balanced_accuracy"  # early-stopping score on the validation split
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    only_folds: list[int] = field(default_factory=list)  # 1-based subset of folds; empty = all
    out: str = "runs/run"

    def train_config(self, *, validate: bool = True, num_workers: int = 0) -> Any:
        """The :class:`emorec.training.trainer.TrainConfig` of this run (no early stopping without validation)."""
        from emorec.training.trainer import TrainConfig

        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            warmup_epochs=self.warmup_epochs, patience=self.patience if validate else 0,
            label_smoothing=self.label_smoothing, class_balanced=self.class_balanced, seed=self.seed,
            device=self.device, amp=self.amp, num_workers=num_workers, min_epochs=self.min_epochs,
            monitor=self.monitor,
        )


def save_config(config: Any, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a dataclass config (plus the command line that ran it) as YAML."""
    data = dataclasses.asdict(config)
    data["command"] = " ".join(shlex.quote(a) for a in ["emorec", *sys.argv[1:]]) if sys.argv else ""
    if extra:
        data.update(extra)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_config(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
    """Read a YAML config into ``cls``; unknown keys (like ``command``) are ignored."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise EmorecError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise EmorecError(f"config file {path} is not valid YAML: {exc}") from None
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls(**values)
