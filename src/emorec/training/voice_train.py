"""Voice training pipeline: corpora -> features (cached) -> protocol folds ->
generic trainer -> run directory; plus export to ONNX with a model card and
evaluation of an exported model on a corpus.

Leakage rules, all enforced here:

- Folds are made from clips (speaker protocols keep every speaker on one side,
  checked by :func:`emorec.voice.protocols.assert_speaker_disjoint`).
- Augmentation happens inside the training fold only: training items are
  augmented on the fly (feature-domain noise/stretch/pitch/gain + SpecAugment)
  and may draw precomputed waveform copies; validation and test items are read
  as stored, never augmented (``VoiceItems(train=False)`` has no augmentation
  code path at all).
- Early stopping watches validation *speakers* carved out of the training fold.

The ``random-augmented`` protocol deliberately breaks the first rule the way
the original notebook did (copies made before a random split) to measure the
leak.

Training needs no audio library once the feature cache holds the corpus:
``emorec voice features`` precomputes it, ``emorec voice train --cache DIR``
then runs from that folder alone (e.g. on a GPU machine without soundfile).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, combine, label_set, parse_label_map
from emorec.errors import DatasetError, EmorecError
from emorec.evaluation.metrics import classification_metrics, format_metrics, pooled_and_per_fold
from emorec.training.config import save_config
from emorec.training.trainer import Trainer, TrainConfig, resolve_device, set_seed
from emorec.voice.augment import (
    AugmentConfig,
    FeatureAugmentConfig,
    augment_logmel,
    notebook_copies,
    notebook_feature_copies,
    random_augment,
    spec_augment,
)
from emorec.voice.cache import FeatureCache, file_sha256
from emorec.voice.features import FeatureConfig, base_features, finalize
from emorec.voice.protocols import PROTOCOLS, assert_speaker_disjoint, inner_split, make_folds

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("EMOREC_CACHE", Path.home() / ".cache" / "emorec")) / "voice-features"
# Folder names tried under the data root for each corpus.
CORPUS_FOLDERS = {
    "ravdess": ("ravdess", "RAVDESS"),
    "cremad": ("crema-d", "CREMA-D", "cremad", "CREMAD"),
    "savee": ("savee", "SAVEE"),
}


@dataclass
class VoiceTrainConfig:
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


# -- corpora ------------------------------------------------------------------------------------

def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, path = spec.partition("=")
    name = name.strip().lower().replace("-", "")
    if name not in ("ravdess", "cremad", "savee", "manifest"):
        raise DatasetError(f"corpus {name!r} unknown: use ravdess, cremad, savee or manifest (NAME or NAME=PATH)")
    return name, (path.strip() or None)


def corpus_path(name: str, explicit: str | None, data: str | None, n_corpora: int) -> Path:
    """Where a corpus lives: NAME=PATH, or --data itself (one corpus), or a folder under the data root."""
    from emorec.paths import data_root

    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise DatasetError(f"{name} data {path} not found")
        return path
    if data and n_corpora == 1 and Path(data).exists():
        direct = Path(data)
        if name == "manifest" or not any((direct / f).is_dir() for f in CORPUS_FOLDERS.get(name, ())):
            return direct
    if name == "manifest":
        raise DatasetError("the manifest corpus needs its CSV: --corpus manifest=PATH.csv")
    root = data_root(data)
    for folder in CORPUS_FOLDERS[name]:
        if (root / folder).is_dir():
            return root / folder
    raise DatasetError(f"no {name} folder under {root} (tried {', '.join(CORPUS_FOLDERS[name])}): pass --corpus {name}=PATH")


def scan_corpus(name: str, path: Path, cfg: VoiceTrainConfig) -> CorpusScan:
    if name == "ravdess":
        from emorec.datasets.ravdess import load_ravdess

        return load_ravdess(path)
    if name == "cremad":
        from emorec.datasets.cremad import load_cremad

        return load_cremad(path, label_source=cfg.cremad_labels, meta_dir=cfg.meta)
    if name == "savee":
        from emorec.datasets.savee import load_savee

        return load_savee(path)
    from emorec.datasets.manifest import load_manifest

    return load_manifest(path)


@dataclass
class Corpus:
    """Records of the run with their content hashes; ``from_cache`` when no audio was read."""

    records: list[AudioRecord]
    hashes: list[str]
    labels: list[str]
    summaries: list[str]
    from_cache: bool


def load_records(cfg: VoiceTrainConfig, cache: FeatureCache | None) -> Corpus:
    """Scan every corpus (or read its record list from the cache when the audio is absent)."""
    scans, hashes, summaries, from_cache = [], {}, [], False
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        try:
            path = corpus_path(name, explicit, cfg.data, len(cfg.corpus))
        except DatasetError as missing:
            if cache is None:
                raise
            try:
                records, shas = cache.load_records(name)
            except DatasetError:
                raise missing from None
            scan = CorpusScan(name, cache.dir, records, notes=["records and features read from the cache"])
            hashes.update({str(r.path): h for r, h in zip(records, shas)})
            from_cache = True
        else:
            scan = scan_corpus(name, path, cfg)
        scans.append(scan)
        summaries.append(scan.summary())
    mapping = parse_label_map(cfg.label_map)
    records = combine(scans, mapping, cfg.shared_labels)
    if cfg.limit_speakers:
        keep = sorted({r.speaker for r in records})[: cfg.limit_speakers]
        records = [r for r in records if r.speaker in keep]
    shas = [hashes.get(str(r.path)) or file_sha256(r.path) for r in records]
    return Corpus(records, shas, label_set(records), summaries, from_cache)


# -- features -----------------------------------------------------------------------------------

def _wave_variant(k: int, aug: AugmentConfig) -> str:
    import hashlib

    key = hashlib.sha256(json.dumps(aug.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return f"aug{k}-{key}"


def compute_features(
    corpus: Corpus,
    feat_cfg: FeatureConfig,
    cache: FeatureCache | None,
    wave_copies: int = 0,
    wave_cfg: AugmentConfig = AugmentConfig(),
    notebook: bool = False,
    progress: bool = True,
) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[list[np.ndarray]]]:
    """Base features per record, plus waveform-augmented copies and notebook copies if asked.

    Everything comes from the cache when present; audio is read only for misses.
    Copies are *stored* for every clip but used only for training-fold items.
    """
    from tqdm.auto import tqdm

    from emorec.voice.audio import read_audio, trim_silence

    bases, copies, nb = [], [], []
    variants = [_wave_variant(k, wave_cfg) for k in range(wave_copies)]
    nb_variants = ["nb0", "nb1"] if notebook else []
    computed = 0
    for rec, sha in tqdm(list(zip(corpus.records, corpus.hashes)), desc="features", disable=not progress, leave=False):
        wanted = ["orig", *variants, *nb_variants]
        found = {v: cache.get(sha, v) if cache is not None else None for v in wanted}
        missing = [v for v in wanted if found[v] is None]
        if missing:
            if corpus.from_cache and not Path(rec.path).is_file():
                raise DatasetError(
                    f"the cache lacks {missing} features for {rec.path}: rerun `emorec voice features` with the "
                    "same --wave-copies / --notebook-copies and feature options"
                )
            x = read_audio(rec.path, feat_cfg.sample_rate, allow_silent=True)
            if feat_cfg.trim_db is not None:
                x = trim_silence(x, feat_cfg.sample_rate, feat_cfg.trim_db)
            nb_made: list[np.ndarray] | None = None
            for v in missing:
                if v == "orig":
                    arr = base_features(x, feat_cfg, trimmed=True)
                elif v.startswith("aug"):
                    arr = base_features(random_augment(x, np.random.default_rng([int(sha[:12], 16), int(v[3:].split("-")[0])]), wave_cfg),
                                        feat_cfg, trimmed=True)
                else:
                    if nb_made is None:
                        nb_made = notebook_copies(x, np.random.default_rng(int(sha[:12], 16)))
                    arr = base_features(nb_made[int(v[2:])], feat_cfg, trimmed=True)
                arr = arr.astype(np.float16)
                found[v] = arr
                if cache is not None:
                    cache.put(sha, arr, v)
            computed += 1
        bases.append(found["orig"])
        copies.append([found[v] for v in variants])
        nb.append([found[v] for v in nb_variants])
    if progress and cache is not None:
        print(f"features: {len(bases) - computed} clips from the cache, {computed} extracted ({cache.dir})")
    return bases, copies, nb


# -- datasets -----------------------------------------------------------------------------------

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


# -- training -----------------------------------------------------------------------------------

def _train_config(cfg: VoiceTrainConfig, validate: bool) -> TrainConfig:
    return TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
        warmup_epochs=cfg.warmup_epochs, patience=cfg.patience if validate else 0,
        label_smoothing=cfg.label_smoothing, class_balanced=cfg.class_balanced, seed=cfg.seed,
        device=cfg.device, amp=cfg.amp, num_workers=max(0, cfg.num_workers), min_epochs=cfg.min_epochs, monitor=cfg.monitor,
    )


def member_kwargs(data: dict[str, Any], member: int) -> dict[str, Any]:
    """Model options of ensemble member ``member`` (1-based) of a sequence model."""
    from emorec.voice.models import VECTOR_MODELS

    kwargs = dict(data.get("model_kwargs") or {})
    extra = data.get("ensemble_kwargs") or []
    if extra and data["model"] not in VECTOR_MODELS:
        kwargs.update(extra[(member - 1) % len(extra)])
    return kwargs


def build_run_model(cfg: VoiceTrainConfig | dict[str, Any], n_classes: int, member: int = 1):
    from emorec.voice.models import build_model

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
    from emorec.voice.models import frame_norm_numpy

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


def _eval_items(cfg: VoiceTrainConfig, bases, y, idx) -> VoiceItems:
    feat = cfg.feature_config()
    return VoiceItems([bases[i] for i in idx], y[idx], feat, False, int(cfg.eval_max_seconds * feat.frames_per_second))


def _n_val_speakers(cfg: VoiceTrainConfig, n_train_speakers: int) -> int:
    if cfg.val_speakers >= 0:
        return cfg.val_speakers
    return max(1, int(round(0.15 * n_train_speakers)))


def _strata(records: list[AudioRecord]) -> dict[str, str]:
    return {r.speaker: str(r.meta.get("sex", "")).lower() for r in records}


def _command(out: Path) -> str:
    try:
        return yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")).get("command", "")
    except Exception:
        return ""


def run_training(cfg: VoiceTrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train per ``cfg.protocol`` and write the run directory ``cfg.out``; returns metrics.json's content."""
    if cfg.protocol not in PROTOCOLS:
        raise EmorecError(f"protocol {cfg.protocol!r} unknown: use one of {', '.join(PROTOCOLS)}")
    feat = cfg.feature_config()
    cache = FeatureCache(cfg.cache, feat) if cfg.cache else None
    corpus = load_records(cfg, cache)
    labels = corpus.labels
    records = corpus.records
    if progress:
        for line in corpus.summaries:
            print(line)
    notebook = False
    if cfg.protocol == "random-augmented":
        # Waveform copies as in the notebook when audio (or cached copies) exist; feature-domain stand-ins otherwise.
        cached = cache is not None and all(cache.has(h, "nb0") and cache.has(h, "nb1") for h in corpus.hashes)
        notebook = cached or not corpus.from_cache or not feat.is_sequence
    bases, copies, nb = compute_features(corpus, feat, cache, cfg.wave_copies, AugmentConfig.from_dict(cfg.wave_augment),
                                         notebook=notebook, progress=progress)
    y = np.array([labels.index(r.label) for r in records], dtype=np.int64)
    groups = np.array([r.speaker for r in records])
    paths = np.array([str(r.path) for r in records])
    variant = np.array(["orig"] * len(records))

    if cfg.protocol == "random-augmented":
        # The notebook's leak: copies exist before the split and are split like independent clips.
        if not notebook:
            rng = np.random.default_rng(cfg.seed)
            nb = [notebook_feature_copies(np.asarray(b, dtype=np.float32), rng, feat) for b in bases]
        n = len(records)
        bases = bases + [c[0] for c in nb] + [c[1] for c in nb]
        copies = copies * 3
        y, groups, paths = np.tile(y, 3), np.tile(groups, 3), np.tile(paths, 3)
        variant = np.repeat(np.array(["orig", "copy1", "copy2"]), n)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = {"labels": labels, "n_items": len(bases), "corpora": corpus.summaries, "from_cache": corpus.from_cache,
             "feature_cache": str(cache.dir) if cache else None}
    save_config(cfg, out / "config.yaml", extra)
    info = {"dataset": "+".join(_split_spec(s)[0] for s in cfg.corpus), "protocol": cfg.protocol,
            "command": _command(out), "model_card": None}
    if cfg.protocol == "random-augmented":
        info["copies"] = "waveform (notebook recipe)" if notebook else "feature-domain stand-ins for the notebook recipe"

    folds = make_folds(cfg.protocol, groups, cfg.folds, cfg.seed, _strata(records))
    if cfg.protocol == "all":
        train_idx = folds[0][0]
        n_val = cfg.val_speakers if cfg.val_speakers > 0 else 0
        fit_idx, val_idx = inner_split(train_idx, groups, n_val, cfg.seed)
        _fit(cfg, bases, copies, y, labels, fit_idx, val_idx, out, resume)
        hist = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines() if line.strip()]
        metrics = {**info, "trained_on_all": True, "n_train": int(len(fit_idx)), "n_val": int(len(val_idx)),
                   "speakers": sorted(set(groups[fit_idx].tolist())), "epochs_run": len(hist), "labels": labels,
                   "note": "final model: every clip used for training, so no held-out score; see the k-fold run"}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (out / "checkpoint.pt").unlink(missing_ok=True)
        return metrics

    fold_metrics, best_epochs = [], []
    for k, (train_idx, test_idx) in enumerate(folds, start=1):
        if cfg.only_folds and k not in cfg.only_folds:
            continue
        fold_dir = out / f"fold_{k:02d}"
        fold_dir.mkdir(exist_ok=True)
        done = fold_dir / "metrics.json"
        if resume and done.is_file() and _fold_complete(cfg, fold_dir):
            fold_metrics.append(json.loads(done.read_text(encoding="utf-8")))
            continue
        if cfg.protocol == "random-augmented":
            perm = np.random.default_rng(cfg.seed + k).permutation(train_idx)
            n_val = max(1, int(0.15 * len(perm)))
            fit_idx, val_idx = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        else:
            n_val = _n_val_speakers(cfg, len(set(groups[train_idx].tolist())))
            fit_idx, val_idx = inner_split(train_idx, groups, n_val, cfg.seed + k)
            assert_speaker_disjoint(np.concatenate([fit_idx, val_idx]), test_idx, groups)
        if progress:
            test_speakers = sorted(set(groups[test_idx].tolist()))
            print(f"fold {k}/{len(folds)}: fit {len(fit_idx)} / val {len(val_idx)} / test {len(test_idx)} items; "
                  f"test speakers {', '.join(test_speakers[:6])}{' ...' if len(test_speakers) > 6 else ''}")
        trainer = _fit(cfg, bases, copies, y, labels, fit_idx, val_idx, fold_dir, resume)
        probs = trainer.predict(_loader(_eval_items(cfg, bases, y, test_idx), 64, False, cfg.seed))
        metrics = classification_metrics(y[test_idx], probs.argmax(1), labels)
        hist = [json.loads(line) for line in (fold_dir / "history.jsonl").read_text().splitlines() if line.strip()]
        # Without a validation split the last epoch is kept: there is no "best epoch" to suggest.
        best = max(hist, key=lambda h: h["val_bacc"]) if hist and "val_bacc" in hist[0] else {}
        metrics.update(info, fold=f"fold_{k:02d}", best_epoch=best.get("epoch"), n_fit=int(len(fit_idx)),
                       n_val=int(len(val_idx)), test_speakers=sorted(set(groups[test_idx].tolist())))
        np.savez_compressed(fold_dir / "predictions.npz", y_true=y[test_idx], probs=probs.astype(np.float32),
                            groups=groups[test_idx], paths=paths[test_idx], variant=variant[test_idx])
        done.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (fold_dir / "checkpoint.pt").unlink(missing_ok=True)  # keep run dirs small
        fold_metrics.append(metrics)
        if progress:
            print(f"fold {k}: accuracy {metrics['accuracy']:.3f}, balanced accuracy {metrics['balanced_accuracy']:.3f}")
    best_epochs = [m.get("best_epoch") for m in fold_metrics if m.get("best_epoch")]
    metrics = {**pooled_and_per_fold(fold_metrics, labels), **info, "k": len(folds),
               "best_epochs": best_epochs,
               "suggested_epochs_for_all": int(np.median(best_epochs)) if best_epochs else None}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    _merge_fold_predictions(out, sorted(out.glob("fold_*")))
    return metrics


def _fold_complete(cfg: VoiceTrainConfig, fold_dir: Path) -> bool:
    """A finished fold has every member the config asks for (a larger --ensemble re-opens it)."""
    if cfg.ensemble <= 1:
        return True
    return all(member_finished(fold_dir / f"member_{k:02d}", member_spec(cfg, k), cfg.epochs)
               for k in range(1, cfg.ensemble + 1))


def _merge_fold_predictions(out: Path, fold_dirs: list[Path]) -> None:
    parts = []
    for d in fold_dirs:
        if (d / "predictions.npz").is_file():
            with np.load(d / "predictions.npz") as p:
                parts.append({k: p[k] for k in p.files})
    if parts:
        np.savez_compressed(out / "predictions.npz", **{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def summary(metrics: dict[str, Any]) -> str:
    """Terminal summary of a run's metrics (pooled for k-fold runs)."""
    if metrics.get("trained_on_all"):
        return (f"trained on all {metrics['n_train']} clips ({len(metrics['speakers'])} speakers), "
                f"{metrics['epochs_run']} epochs; no held-out score (use the k-fold run's metrics)")
    if "pooled" in metrics:
        lines = [format_metrics(metrics["pooled"]), "", "across folds (mean +/- std):"]
        for key, s in metrics["across_folds"].items():
            if s["mean"] is not None:
                lines.append(f"  {key:<18} {100 * s['mean']:.2f} +/- {100 * s['std']:.2f} %")
        if metrics.get("suggested_epochs_for_all"):
            lines.append(f"\nmedian best epoch {metrics['suggested_epochs_for_all']}: "
                         f"use --epochs {metrics['suggested_epochs_for_all']} with --protocol all for the final model")
        return "\n".join(lines)
    return format_metrics(metrics)


# -- feature precomputation (emorec voice features) -----------------------------------------------

def precompute(cfg: VoiceTrainConfig, notebook: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fill the cache for the configured corpora and write their record lists into it."""
    if not cfg.cache:
        raise EmorecError("--cache DIR is required to precompute features")
    feat = cfg.feature_config()
    cache = FeatureCache(cfg.cache, feat)
    written = {}
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        single = VoiceTrainConfig(**{**asdict(cfg), "corpus": [spec], "label_map": None, "shared_labels": False,
                                     "limit_speakers": 0})
        path = corpus_path(name, explicit, cfg.data, len(cfg.corpus))
        scan = scan_corpus(name, path, single)
        if progress:
            print(scan.summary())
        corpus = Corpus(scan.records, [file_sha256(r.path) for r in scan.records], label_set(scan.records),
                        [scan.summary()], False)
        compute_features(corpus, feat, cache, cfg.wave_copies, AugmentConfig.from_dict(cfg.wave_augment),
                         notebook=notebook, progress=progress)
        written[name] = str(cache.save_records(name, corpus.records, corpus.hashes))
    size = sum(p.stat().st_size for p in cache.dir.rglob("*") if p.is_file())
    return {"cache": str(cache.dir), "records": written, "megabytes": round(size / 2**20, 1)}


# -- export -----------------------------------------------------------------------------------

def read_run_config(run_dir: Path) -> dict[str, Any]:
    for d in (run_dir, run_dir.parent):
        path = d / "config.yaml"
        if path.is_file():
            return yaml.safe_load(path.read_text(encoding="utf-8"))
    raise EmorecError(f"{run_dir} is not a voice run directory (no config.yaml)")


def load_run_model(run_dir: str | Path):
    """Rebuild a trained model (eval mode, CPU) and its config from a run or fold folder.

    A folder with ``member_XX/best.safetensors`` (``--ensemble N``) gives an :class:`Ensemble`.
    """
    from safetensors.torch import load_file

    from emorec.voice.models import Ensemble

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
    import onnxruntime as ort

    from emorec.training.export import COMPACT_NOTE, compact_weights, headline, write_card
    from emorec.voice.models import export_onnx

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
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x})[0]
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
    if not np.allclose(got, want, atol=1e-4):
        raise EmorecError(f"ONNX export of {run_dir} disagrees with torch (max diff {np.abs(got - want).max():.2e})")
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
        license="Weights trained on RAVDESS (CC BY-NC-SA 4.0): non-commercial use only"
        if any("ravdess" in str(c) for c in data.get("corpus", [])) else "",
        notes="Acted speech; expect lower accuracy on spontaneous speech, other languages and noisy audio."
        + (" Metrics are those of the float32 fold models; benchmarks/voice_compact.py measures what the "
           "compact weights change." if compact else ""),
    )
    return out


# -- evaluation of an exported model ---------------------------------------------------------------

def corpus_records(cfg: VoiceTrainConfig, speakers: list[str] | None = None) -> tuple[list, list[AudioRecord]]:
    """(corpus scans, labelled clips) of ``cfg.corpus``, only ``speakers``' clips when given."""
    scans = []
    for spec in cfg.corpus:
        name, explicit = _split_spec(spec)
        scans.append(scan_corpus(name, corpus_path(name, explicit, cfg.data, len(cfg.corpus)), cfg))
    records = combine(scans, parse_label_map(cfg.label_map), cfg.shared_labels)
    if speakers:
        wanted = set(speakers)
        records = [r for r in records if r.speaker in wanted or r.speaker.split(":", 1)[-1] in wanted]
    return scans, records


def evaluate_onnx(model_path: str | Path | None, cfg: VoiceTrainConfig, speakers: list[str] | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Run an ONNX voice model (default: the packaged one) over corpus clips and score it."""
    from tqdm.auto import tqdm

    from emorec.voice.recognizer import VoiceEmotionRecognizer

    rec = VoiceEmotionRecognizer(model_path)
    scans, records = corpus_records(cfg, speakers)
    labels = rec.labels
    unknown = sorted({r.label for r in records} - set(labels))
    records = [r for r in records if r.label in labels]
    if not records:
        raise DatasetError("no clips with labels the model knows: use --label-map to map them")
    y_true, y_pred, probs, failed = [], [], [], []
    for r in tqdm(records, desc="evaluate", disable=not progress, leave=False):
        try:
            result = rec.predict(r.path)
        except EmorecError as exc:
            failed.append(str(exc))
            continue
        if result.label is None:
            failed.append(f"{r.path}: {result.error}")
            continue
        y_true.append(labels.index(r.label))
        y_pred.append(labels.index(result.label))
        probs.append([result.scores[k] for k in labels])
    metrics = classification_metrics(y_true, y_pred, labels)
    metrics.update(dataset="+".join(s.corpus for s in scans), protocol="external (whole corpus)" if not speakers
                   else f"speakers {','.join(speakers)}", model=str(rec.model.path), model_card=rec.model.card.name,
                   failed=len(failed), failed_examples=failed[:5], labels_not_in_model=unknown)
    return metrics
