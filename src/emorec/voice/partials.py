"""Overlapping fixed-length windows of a clip for a frozen utterance encoder.

A speaker encoder such as Resemblyzer's is trained on 1.6 s windows (160 mel
frames): a clip becomes windows starting every ``1 / rate`` seconds, the last
one kept only when at least ``min_coverage`` of it holds audio, the clip
zero-padded to the end of the last window. The encoder embeds every window and
the model averages them. Training (``emorec.training.voice.frontends``) and
inference both cut windows here, so the two see the same frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from emorec.voice.features import FeatureConfig, extract


def encoder_feature_config() -> dict[str, Any]:
    """Resemblyzer's input: 40 Slaney mel bands of the power spectrum, 25 ms / 10 ms, no log."""
    return FeatureConfig(kind="melpower", n_fft=400, win_length=400, hop_length=160, n_mels=40, fmin=0.0,
                         fmax=8000.0, deltas=0, preemphasis=0.0, normalize="none", trim_db=None).to_dict()


@dataclass(frozen=True)
class PartialSpec:
    """How a clip becomes the encoder's (windows, frames, n_mels) input (card ``input.partials``)."""

    input: str = "partials"  # the ONNX input name
    frames: int = 160
    rate: float = 1.3  # windows per second
    min_coverage: float = 0.75
    features: dict[str, Any] = field(default_factory=encoder_feature_config)

    def __post_init__(self) -> None:
        if self.frames <= 0 or self.rate <= 0 or not 0 < self.min_coverage <= 1:
            raise ValueError("partials need frames > 0, rate > 0 and 0 < min_coverage <= 1")

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(dict(self.features))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def window_starts(n_samples: int, spec: PartialSpec) -> tuple[list[int], int]:
    """(first frame of every window, samples the clip is zero-padded to)."""
    cfg = spec.feature_config
    hop = cfg.hop_length
    n_frames = int(np.ceil((n_samples + 1) / hop))
    step = max(1, int(round(cfg.sample_rate / spec.rate / hop)))
    starts = list(range(0, max(1, n_frames - spec.frames + step + 1), step))
    last = starts[-1] * hop
    coverage = (n_samples - last) / (spec.frames * hop)
    if coverage < spec.min_coverage and len(starts) > 1:
        starts = starts[:-1]
    return starts, (starts[-1] + spec.frames) * hop


def partial_windows(x: np.ndarray, spec: PartialSpec) -> np.ndarray:
    """The encoder input of a (trimmed, loudness-normalised) clip: (windows, frames, n_mels) float32."""
    x = np.asarray(x, dtype=np.float32)
    starts, padded = window_starts(x.size, spec)
    if padded > x.size:
        x = np.pad(x, (0, padded - x.size))
    mel = extract(x, spec.feature_config, trimmed=True)
    return np.stack([mel[s: s + spec.frames] for s in starts]).astype(np.float32)
