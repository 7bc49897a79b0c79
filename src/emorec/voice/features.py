"""Speech features: log-mel (+deltas) and MFCC sequences in pure numpy, plus
the original notebook's 162-value summary vector and eGeMAPS functionals.

The sequence features are what the shipped model uses; they are computed with
numpy's FFT on strided frames (no librosa on the inference path), which keeps a
10-minute recording well under a second. The mel filterbank follows Slaney's
definition (librosa's default), so numbers line up with librosa within float
rounding.

``summary162`` (zero-crossing rate 1, chroma 12, MFCC 20, RMS 1, mel means 128)
needs librosa and ``egemaps`` needs opensmile; both are imported only when used.

Feature kinds are a registry (:data:`FEATURES`, keyed by the card's
``input.features.kind``): each :class:`FeatureKind` says whether it is a frame
sequence, how many values it yields and how raw audio becomes what the cache
stores. A new front end registers one entry (or, from another package, the
``emorec.features`` entry-point group) and every card naming it just works.

>>> cfg = FeatureConfig()
>>> x = np.random.default_rng(0).normal(size=16000).astype("float32") * 0.1
>>> extract(x, cfg).shape
(101, 192)
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from emorec.errors import InputError
from emorec.registry import Registry

KINDS = ("logmel", "mfcc", "melpower", "whisper", "summary162", "egemaps")  # the built-in kinds, in documentation order
SEQUENCE_KINDS = ("logmel", "mfcc", "melpower", "whisper")


@dataclass(frozen=True)
class FeatureKind:
    """One feature front end. ``base(x, cfg)`` is what the cache stores (raw log-mel frames for
    sequence kinds, which :func:`finalize` turns into model input; the vector itself otherwise)."""

    name: str
    sequence: bool
    dim: Callable[[FeatureConfig], int]
    base: Callable[[np.ndarray, FeatureConfig], np.ndarray]


FEATURES: Registry[FeatureKind] = Registry("feature kind", entry_point_group="emorec.features")


def register_feature_kind(kind: FeatureKind, *, replace: bool = False) -> FeatureKind:
    return FEATURES.register(kind.name, kind, replace=replace)


def feature_kind(name: str) -> FeatureKind:
    return FEATURES.get(name)


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes model input. Saved in every voice model card.

    kind: ``logmel`` | ``mfcc`` | ``melpower`` | ``whisper`` (sequences, shape (frames, dim)) or
    ``summary162`` | ``egemaps`` (one vector per clip).
    Frames are ``win_length`` samples (25 ms) every ``hop_length`` (10 ms).
    ``deltas``: 0, 1 (delta) or 2 (delta + delta-delta), stacked on the channel axis.
    ``normalize``: ``utterance`` standardises every channel over the clip's
    frames (removes speaker/channel offsets and the long-term spectrum);
    ``scalar`` only subtracts the clip's mean log-mel energy (removes the
    recording level, keeps the spectral shape; the model then standardises
    channels with training-set statistics); ``none`` leaves raw log values.
    ``floor_db``: mel energies are floored ``floor_db`` below the clip's loudest
    bin before the log, so features do not depend on the recording level.
    ``trim_db``: leading/trailing silence more than this far below the peak is
    dropped before features (None keeps everything).
    """

    kind: str = "logmel"
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    n_mfcc: int = 40
    deltas: int = 2
    delta_width: int = 2
    preemphasis: float = 0.97
    floor_db: float = 80.0  # log floor relative to the loudest mel bin: gain-invariant
    normalize: str = "utterance"
    trim_db: float | None = 40.0

    def __post_init__(self) -> None:
        if self.kind not in FEATURES:
            names = [*KINDS, *(n for n in FEATURES.list() if n not in KINDS)]
            raise ValueError(f"feature kind {self.kind!r} unknown: use one of {', '.join(names)}")
        if self.normalize not in ("utterance", "scalar", "none"):
            raise ValueError("normalize must be 'utterance', 'scalar' or 'none'")
        if self.deltas not in (0, 1, 2):
            raise ValueError("deltas must be 0, 1 or 2")

    @property
    def is_sequence(self) -> bool:
        return FEATURES.get(self.kind).sequence

    @property
    def dim(self) -> int:
        """Channels per frame (sequences) or vector length (summaries)."""
        return FEATURES.get(self.kind).dim(self)

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def key(self) -> str:
        """Short stable hash of the config: the feature cache keys on it."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def with_(self, **changes: Any) -> FeatureConfig:
        return replace(self, **changes)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mels = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular filters, shape (n_mels, n_fft // 2 + 1), float32."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(min(fmax, sample_rate / 2)), n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2 : n_mels + 2] - mel_pts[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    w = np.hanning(win_length + 1)[:-1].astype(np.float32)  # periodic Hann
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


@lru_cache(maxsize=8)
def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II, shape (n_in, n_out)."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    basis = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.T.astype(np.float32)


def power_spectrogram(x: np.ndarray, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                      pad_mode: str = "constant") -> np.ndarray:
    """|STFT|^2 of centred frames, shape (frames, n_fft // 2 + 1); frames = 1 + len // hop.
    ``pad_mode``: how the ends are padded for centring (``"reflect"``, as Whisper does, first
    zero-pads a clip shorter than one frame)."""
    x = np.asarray(x, dtype=np.float32)
    pad = n_fft // 2
    if pad_mode == "reflect" and x.size < n_fft + 1:
        x = np.pad(x, (0, n_fft + 1 - x.size))
    x = np.pad(x, (pad, pad), mode=pad_mode)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop_length]
    spec = np.fft.rfft(frames * _window(win_length, n_fft), axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def log_mel(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Natural-log mel energies, shape (frames, n_mels)."""
    if cfg.preemphasis:
        x = np.append(x[:1], x[1:] - cfg.preemphasis * x[:-1]).astype(np.float32)
    power = power_spectrogram(x, cfg.n_fft, cfg.win_length, cfg.hop_length)
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    mel = power @ fb.T
    floor = max(float(mel.max()) * 10 ** (-cfg.floor_db / 10), 1e-20)
    return np.log(mel + floor).astype(np.float32)


def mel_power(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Mel-band power without the log (the input of a frozen speaker encoder such as
    Resemblyzer's), shape (frames, n_mels); pre-emphasis applies when the config sets it."""
    if cfg.preemphasis:
        x = np.append(x[:1], x[1:] - cfg.preemphasis * x[:-1]).astype(np.float32)
    power = power_spectrogram(x, cfg.n_fft, cfg.win_length, cfg.hop_length)
    return (power @ mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).T).astype(np.float32)


def whisper_feature_config(trim_db: float | None = 40.0) -> FeatureConfig:
    """The ``whisper`` kind with Whisper's own settings: 80 Slaney mel bands, 25 ms / 10 ms."""
    return FeatureConfig(kind="whisper", n_fft=400, win_length=400, hop_length=160, n_mels=80, fmin=0.0,
                         fmax=8000.0, deltas=0, preemphasis=0.0, normalize="none", trim_db=trim_db)


def whisper_log_mel(x: np.ndarray, cfg: FeatureConfig | None = None) -> np.ndarray:
    """Whisper's input features of a 16 kHz clip, shape (frames, n_mels), frames = len // hop.

    As Whisper computes them: reflect-padded Hann frames, Slaney mel bands, log10 with
    the floor 8 decades below the clip's peak, then ``(x + 4) / 4``.
    """
    cfg = cfg or whisper_feature_config()
    power = power_spectrogram(x, cfg.n_fft, cfg.win_length, cfg.hop_length, pad_mode="reflect")[:-1]
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    logmel = np.log10(np.maximum(power @ fb.T, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0)
    return ((logmel + 4.0) / 4.0).astype(np.float32)


def mfcc(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """MFCCs (DCT-II of the log-mel energies), shape (frames, n_mfcc)."""
    lm = log_mel(x, cfg)
    return lm @ _dct_matrix(cfg.n_mfcc, cfg.n_mels)


def deltas(feats: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +-``width`` frames (HTK formula, edge-padded)."""
    n = feats.shape[0]
    padded = np.pad(feats, ((width, width), (0, 0)), mode="edge")
    num = np.zeros_like(feats)
    for k in range(1, width + 1):
        num += k * (padded[width + k : width + k + n] - padded[width - k : width - k + n])
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def normalize_utterance(feats: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per channel over the clip's frames."""
    mean = feats.mean(axis=0, keepdims=True)
    std = feats.std(axis=0, keepdims=True)
    return ((feats - mean) / (std + 1e-5)).astype(np.float32)


def finalize(base: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Model input from stored base features: MFCC (DCT), deltas, normalisation.

    For sequence kinds ``base`` is the raw log-mel array (frames, n_mels) that
    the cache stores; summary vectors pass through unchanged.
    """
    base = np.asarray(base, dtype=np.float32)
    if not cfg.is_sequence:
        return base
    if cfg.normalize == "scalar":
        base = base - base.mean()
    seq = base @ _dct_matrix(cfg.n_mfcc, cfg.n_mels) if cfg.kind == "mfcc" else base
    parts = [seq]
    if cfg.deltas >= 1:
        parts.append(deltas(seq, cfg.delta_width))
    if cfg.deltas >= 2:
        parts.append(deltas(parts[1], cfg.delta_width))
    feats = np.concatenate(parts, axis=1) if len(parts) > 1 else seq
    if cfg.normalize == "utterance":
        feats = normalize_utterance(feats)
    return np.ascontiguousarray(feats, dtype=np.float32)


def sequence_features(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel or MFCC frames with optional deltas, shape (frames, cfg.dim)."""
    return finalize(log_mel(x, cfg), cfg)


def summary162(x: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """The original notebook's vector: ZCR, chroma(12), MFCC(20), RMS, mel(128) means.

    Baseline only; needs librosa (imported here, never on the default path).
    """
    try:
        import librosa
    except ImportError:
        raise InputError("the summary162 features need librosa: pip install librosa") from None
    zcr = np.mean(librosa.feature.zero_crossing_rate(y=x).T, axis=0)
    stft = np.abs(librosa.stft(x))
    chroma = np.mean(librosa.feature.chroma_stft(S=stft, sr=sample_rate).T, axis=0)
    mf = np.mean(librosa.feature.mfcc(y=x, sr=sample_rate).T, axis=0)
    rms = np.mean(librosa.feature.rms(y=x).T, axis=0)
    mel = np.mean(librosa.feature.melspectrogram(y=x, sr=sample_rate).T, axis=0)
    return np.hstack([zcr, chroma, mf, rms, mel]).astype(np.float32)


@lru_cache(maxsize=1)
def _smile():
    try:
        import opensmile
    except ImportError:
        raise InputError("eGeMAPS features need opensmile: pip install opensmile") from None
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def egemaps(x: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """88 eGeMAPS v02 functionals through opensmile (runs offline)."""
    values = _smile().process_signal(x, sample_rate).to_numpy()
    return values.reshape(-1).astype(np.float32)


def base_features(x: np.ndarray, cfg: FeatureConfig, trimmed: bool = False) -> np.ndarray:
    """What the cache stores: raw log-mel frames (sequence kinds) or the summary vector.

    Trims leading/trailing silence first when ``cfg.trim_db`` is set (and the
    caller has not already, ``trimmed=True``).
    """
    from emorec.voice.audio import trim_silence

    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        raise InputError("cannot compute features of an empty signal")
    if cfg.trim_db is not None and not trimmed:
        x = trim_silence(x, cfg.sample_rate, cfg.trim_db)
    return FEATURES.get(cfg.kind).base(x, cfg)


def extract(x: np.ndarray, cfg: FeatureConfig, trimmed: bool = False) -> np.ndarray:
    """Model-ready features of a mono signal at ``cfg.sample_rate``, per ``cfg``."""
    return finalize(base_features(x, cfg, trimmed), cfg)


for _kind in (
    FeatureKind("logmel", True, lambda c: c.n_mels * (1 + c.deltas), log_mel),
    FeatureKind("mfcc", True, lambda c: c.n_mfcc * (1 + c.deltas), log_mel),  # DCT applied in finalize
    FeatureKind("melpower", True, lambda c: c.n_mels * (1 + c.deltas), mel_power),
    FeatureKind("whisper", True, lambda c: c.n_mels * (1 + c.deltas), whisper_log_mel),
    FeatureKind("summary162", False, lambda c: 162, lambda x, c: summary162(x, c.sample_rate)),
    FeatureKind("egemaps", False, lambda c: 88, lambda x, c: egemaps(x, c.sample_rate)),
):
    register_feature_kind(_kind)
