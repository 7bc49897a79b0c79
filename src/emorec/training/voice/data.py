"""Torch datasets and loaders of voice features; augmentation only in ``VoiceItems(train=True)``."""
from __future__ import annotations

import os

import numpy as np
import torch

from emorec.training.trainer import resolve_device
from emorec.training.voice.augment import FeatureAugmentConfig, augment_logmel, spec_augment
from emorec.training.voice.config import VoiceTrainConfig
from emorec.voice.features import FeatureConfig, finalize


class VoiceItems(torch.utils.data.Dataset):
    """Model inputs for a set of clips.

    ``train=True`` crops randomly, draws a stored waveform copy at random and
    applies feature-domain augmentation and SpecAugment. ``train=False`` returns
    the stored features unchanged (centre-cropped only beyond ``max_frames``).
    """

    def __init__(self, bases: list[np.ndarray], y: np.ndarray, feat_cfg: FeatureConfig, train: bool,
                 max_frames: int, copies: list[list[np.ndarray]] | None = None,
                 augment: FeatureAugmentConfig | None = None, seed: int = 0) -> None:
        self.bases, self.y, self.cfg, self.train = bases, np.asarray(y, dtype=np.int64), feat_cfg, train
        self.max_frames = max_frames
        self.copies = copies if train else None
        self.augment = augment if train else None
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._rng_worker: int | None = None

    @property
    def rng(self) -> np.random.Generator:
        """One generator per DataLoader worker (seeded from torch's per-worker seed), else one for all."""
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else None
        if self._rng is None or worker != self._rng_worker:
            self._rng = np.random.default_rng(info.seed if info is not None else self.seed)
            self._rng_worker = worker
        return self._rng

    def __len__(self) -> int:
        return len(self.bases)

    def features(self, i: int) -> np.ndarray:
        base = self.bases[i]
        if not self.cfg.is_sequence:
            if self.train and self.copies and self.copies[i]:
                pick = int(self.rng.integers(0, len(self.copies[i]) + 1))
                base = base if pick == 0 else self.copies[i][pick - 1]
            return np.asarray(base, dtype=np.float32)
        if not self.train:
            n = base.shape[0]
            if n > self.max_frames:
                start = (n - self.max_frames) // 2
                base = base[start : start + self.max_frames]
            return finalize(base, self.cfg)
        if self.copies and self.copies[i]:
            pick = int(self.rng.integers(0, len(self.copies[i]) + 1))
            base = base if pick == 0 else self.copies[i][pick - 1]
        x = np.asarray(base, dtype=np.float32)
        if self.augment is not None:
            x = augment_logmel(x, self.rng, self.augment, self.cfg)
        n = x.shape[0]
        if n > self.max_frames:
            start = int(self.rng.integers(0, n - self.max_frames + 1))
            x = x[start : start + self.max_frames]
        feats = finalize(x, self.cfg)
        if self.augment is not None and self.augment.specaug:
            bands = self.cfg.n_mels if self.cfg.kind == "logmel" else self.cfg.n_mfcc
            feats = spec_augment(feats, self.rng, bands, self.augment.freq_masks, self.augment.freq_width,
                                 self.augment.time_masks, self.augment.time_fraction)
        return feats

    def __getitem__(self, i: int):
        return self.features(i), int(self.y[i])


def collate(batch: list[tuple[np.ndarray, int]]):
    """Pad sequences to the longest in the batch: (x, lengths, y); vectors: (x, y)."""
    feats, ys = zip(*batch)
    y = torch.tensor(ys, dtype=torch.long)
    if feats[0].ndim == 1:
        return torch.from_numpy(np.stack(feats)), y
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    x = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = torch.from_numpy(f)
    return x, lengths, y


def _workers(cfg: VoiceTrainConfig) -> int:
    """-1 (auto): no worker processes on CPU (they would compete with training), up to 8 on CUDA."""
    if cfg.num_workers >= 0:
        return cfg.num_workers
    if resolve_device(cfg.device).type != "cuda":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 2))


def _loader(items: VoiceItems, batch_size: int, shuffle: bool, seed: int, workers: int = 0):
    g = torch.Generator().manual_seed(seed)
    # No reordering when not shuffling: predictions must line up with the test indices.
    return torch.utils.data.DataLoader(items, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                                       generator=g, num_workers=workers, persistent_workers=workers > 0,
                                       pin_memory=torch.cuda.is_available())



def _eval_items(cfg: VoiceTrainConfig, bases, y, idx) -> VoiceItems:
    feat = cfg.feature_config()
    return VoiceItems([bases[i] for i in idx], y[idx], feat, False, int(cfg.eval_max_seconds * feat.frames_per_second))
