"""The voice run config: every option of ``emorec voice train``, saved as the run's config.yaml."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorec.training.config import BaseTrainConfig
from emorec.training.voice.augment import AugmentConfig, FeatureAugmentConfig
from emorec.voice.features import FeatureConfig

DEFAULT_CACHE = Path(os.environ.get("EMOREC_CACHE", Path.home() / ".cache" / "emorec")) / "voice-features"
# Folder names tried under the data root for each corpus.
from emorec.datasets.speech_corpora import SPEECH_CORPORA  # noqa: E402

CORPUS_FOLDERS = {name: c.folders for name, c in SPEECH_CORPORA.items()}


@dataclass
class VoiceTrainConfig(BaseTrainConfig):
    corpus: list[str] = field(default_factory=lambda: ["ravdess"])  # NAME or NAME=PATH, repeatable
    data: str | None = None  # data root (else $EMOREC_DATA) or, for one corpus, its folder
    meta: str | None = None  # CREMA-D metadata folder (VideoDemographics.csv, summaryTable.csv)
    cremad_labels: str = "intended"  # intended | voice | face | multimodal (crowd votes)
    label_map: str | None = None  # e.g. "calm=neutral,surprise=drop"
    shared_labels: bool = False  # keep only classes present in every corpus
    protocol: str = "speaker-kfold"  # speaker-kfold | loso | random-augmented | all
    folds: int = 5
    only_folds: list[int] = field(default_factory=list)  # 1-based subset of folds; empty = all
    val_speakers: int = -1  # validation speakers per training fold; -1 = 15% of them (>= 1)
    model: str = "gru_attn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=lambda: FeatureConfig(normalize="scalar").to_dict())
    feature_augment: bool = True
    augment: dict[str, Any] = field(default_factory=lambda: FeatureAugmentConfig().to_dict())
    wave_copies: int = 0  # precomputed waveform-augmented copies per training clip (needs audio)
    wave_augment: dict[str, Any] = field(default_factory=lambda: AugmentConfig().to_dict())
    ensemble: int = 1  # models per fold with different seeds, probabilities averaged (also in the export)
    # Per-member model options, cycled over the members of sequence models: member k gets
    # model_kwargs + ensemble_kwargs[(k - 1) % len]. The default mixes utterance-normalised
    # members with members that keep the clip's spectral shape (normalize="scalar" features).
    ensemble_kwargs: list[dict[str, Any]] = field(default_factory=lambda: [{"frame_norm": "utterance"}, {"frame_norm": "none"}])
    mixup: float = 0.0  # probability per training batch of mixup (Beta(0.4, 0.4)); 0 = off
    train_seconds: float = 3.0  # random training crop (longer clips); evaluation uses the whole clip
    eval_max_seconds: float = 10.0  # centred crop for evaluation of very long clips
    min_seconds: float = 0.5  # inference refuses shorter speech (written into the card)
    segment_seconds: float = 5.0  # inference cuts long speech into segments this long
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-3
    warmup_epochs: int = 2
    patience: int = 20  # validation is 2-3 speakers: noisy, so stop late
    min_epochs: int = 20
    label_smoothing: float = 0.1
    # RAVDESS test folds share the training prior (neutral is half as frequent); class weights
    # would trade accuracy for over-predicting neutral. Turn on for skewed corpora.
    class_balanced: bool = False
    monitor: str = "balanced_accuracy"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_workers: int = -1  # DataLoader worker processes for training batches; -1 = auto (0 on CPU)
    threads: int = 0  # torch CPU threads (0: torch's default; 1 is fastest on a busy 2-core machine)
    cache: str | None = str(DEFAULT_CACHE)  # None disables the on-disk feature cache
    limit_speakers: int = 0  # use only the first N speakers (quick runs and tests)
    out: str = "runs/voice"

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.features)
