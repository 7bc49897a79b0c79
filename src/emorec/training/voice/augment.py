"""Training-only augmentation: waveform (noise, time stretch, pitch shift, time
shift, as in the original notebook) and SpecAugment on feature sequences.

Implemented in numpy (phase vocoder + resampling), no librosa. The training
pipeline applies these only to items of the training fold, after the split;
evaluation data is never augmented (tests/voice/test_no_eval_augmentation.py).

>>> rng = np.random.default_rng(0)
>>> x = np.sin(np.linspace(0, 2000, 16000)).astype("float32")
>>> time_stretch(x, 0.8).size > x.size
True
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float | None = None, amount: float | None = None) -> np.ndarray:
    """White noise at ``snr_db`` dB, or the notebook's ``amount * U(0,1) * max|x|`` amplitude."""
    if snr_db is not None:
        power = float(np.mean(x.astype(np.float64) ** 2)) + 1e-12
        sigma = np.sqrt(power / 10 ** (snr_db / 10))
    else:
        sigma = (amount if amount is not None else 0.035) * rng.uniform() * float(np.max(np.abs(x)))
    return (x + sigma * rng.standard_normal(x.size)).astype(np.float32)


def time_shift(x: np.ndarray, rng: np.random.Generator, max_seconds: float = 0.3, sample_rate: int = 16000) -> np.ndarray:
    """Circular shift by up to ``max_seconds`` either way (the notebook used np.roll)."""
    limit = int(max_seconds * sample_rate)
    return np.roll(x, int(rng.integers(-limit, limit + 1))) if limit else x


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    x = np.pad(x, (n_fft // 2, n_fft // 2))
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    n = n_fft + hop * (len(frames) - 1)
    out = np.zeros(n)
    norm = np.zeros(n)
    for i, frame in enumerate(frames):  # a few hundred frames per clip: fine in Python
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window**2
    out = out / np.maximum(norm, 1e-8)
    out = out[n_fft // 2 :]
    if out.size < length:
        out = np.pad(out, (0, length - out.size))
    return out[:length]


def time_stretch(x: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder time stretch: ``rate`` > 1 speeds up, < 1 slows down; pitch kept."""
    if rate <= 0:
        raise ValueError("stretch rate must be positive")
    if abs(rate - 1.0) < 1e-6 or x.size < n_fft:
        return x.astype(np.float32)
    spec = _stft(x.astype(np.float64), n_fft, hop)
    spec = np.vstack([spec, np.zeros((1, spec.shape[1]), dtype=spec.dtype)])
    steps = np.arange(0, spec.shape[0] - 1, rate)
    i = np.floor(steps).astype(int)
    alpha = (steps - i)[:, None]
    mag = (1 - alpha) * np.abs(spec[i]) + alpha * np.abs(spec[i + 1])
    advance = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    dphi = np.angle(spec[i + 1]) - np.angle(spec[i]) - advance
    dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
    increments = advance + dphi
    phase = np.angle(spec[0]) + np.vstack([np.zeros((1, spec.shape[1])), np.cumsum(increments[:-1], axis=0)])
    out_len = int(round(x.size / rate))
    return _istft(mag * np.exp(1j * phase), n_fft, hop, out_len).astype(np.float32)


def resample_ratio(x: np.ndarray, ratio: float) -> np.ndarray:
    """Resample so the output has ``ratio`` times as many samples."""
    if abs(ratio - 1.0) < 1e-9:
        return x.astype(np.float32)
    try:
        import soxr

        return soxr.resample(x.astype(np.float32), 1.0, ratio, quality="HQ").astype(np.float32)
    except ImportError:
        n_out = int(round(x.size * ratio))
        return np.interp(np.arange(n_out) / ratio, np.arange(x.size), x).astype(np.float32)


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping duration (stretch, then resample back)."""
    if abs(semitones) < 1e-6:
        return x.astype(np.float32)
    rate = 2.0 ** (-semitones / 12.0)
    y = resample_ratio(time_stretch(x, rate), rate)
    if y.size < x.size:
        y = np.pad(y, (0, x.size - y.size))
    return y[: x.size]


@dataclass(frozen=True)
class AugmentConfig:
    """Random waveform augmentation for training copies (each part with a probability)."""

    noise_prob: float = 0.6
    snr_db: tuple[float, float] = (10.0, 30.0)
    stretch_prob: float = 0.5
    stretch: tuple[float, float] = (0.85, 1.15)
    pitch_prob: float = 0.5
    semitones: tuple[float, float] = (-2.0, 2.0)
    shift_prob: float = 0.3
    shift_seconds: float = 0.2
    gain_db: tuple[float, float] = (-6.0, 6.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


def random_augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig(), sample_rate: int = 16000) -> np.ndarray:
    """One randomly augmented copy of a (trimmed) training clip; never applied at evaluation."""
    y = x.astype(np.float32)
    if rng.uniform() < cfg.stretch_prob:
        y = time_stretch(y, float(rng.uniform(*cfg.stretch)))
    if rng.uniform() < cfg.pitch_prob:
        y = pitch_shift(y, float(rng.uniform(*cfg.semitones)))
    if rng.uniform() < cfg.shift_prob:
        y = time_shift(y, rng, cfg.shift_seconds, sample_rate)
    if rng.uniform() < cfg.noise_prob:
        y = add_noise(y, rng, snr_db=float(rng.uniform(*cfg.snr_db)))
    y = y * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y / peak * 0.99).astype(np.float32) if peak > 1.0 else y.astype(np.float32)


def notebook_copies(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The original notebook's two extra copies: noise, and stretch(0.8)+pitch(0.7)."""
    return [add_noise(x, rng, amount=0.035), pitch_shift(time_stretch(x, 0.8), 0.7)]


def spec_augment(
    feats: np.ndarray,
    rng: np.random.Generator,
    bands: int | None = None,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_fraction: float = 0.1,
) -> np.ndarray:
    """SpecAugment on a (frames, channels) array: zero random bands and time spans.

    ``bands`` is the number of mel bins per stacked block (deltas share the mask).
    Features are utterance-normalised, so zero is the mean, not silence.
    """
    out = feats.copy()
    n_frames, n_ch = out.shape
    bands = bands or n_ch
    blocks = max(1, n_ch // bands)
    for _ in range(freq_masks):
        width = int(rng.integers(0, freq_width + 1))
        if width and width < bands:
            start = int(rng.integers(0, bands - width + 1))
            for b in range(blocks):
                out[:, b * bands + start : b * bands + start + width] = 0.0
    max_t = max(1, int(time_fraction * n_frames))
    for _ in range(time_masks):
        width = int(rng.integers(0, max_t + 1))
        if width and width < n_frames:
            start = int(rng.integers(0, n_frames - width + 1))
            out[start : start + width] = 0.0
    return out


# -- feature-domain augmentation on stored raw log-mel frames ---------------------------
# These need no audio library, so training can run from the feature cache alone
# (e.g. on a GPU machine without soundfile). They approximate the waveform ones:
# noise is added in the power domain, stretching resamples frames in time, and a
# pitch shift warps the mel axis (vocal-tract-length-perturbation style).


def _mel_centres(feat_cfg) -> np.ndarray:
    return _centres(feat_cfg.fmin, feat_cfg.fmax, feat_cfg.sample_rate, feat_cfg.n_mels)


@lru_cache(maxsize=8)
def _centres(fmin: float, fmax: float, sample_rate: int, n_mels: int) -> np.ndarray:
    from emorec.voice.features import _hz_to_mel, _mel_to_hz

    lo, hi = _hz_to_mel(fmin), _hz_to_mel(min(fmax, sample_rate / 2))
    return _mel_to_hz(np.linspace(lo, hi, n_mels + 2)[1:-1])


def feature_noise(logmel: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add white-ish noise at ``snr_db`` (relative to the clip's mean mel power)."""
    power = np.exp(logmel.astype(np.float32))
    level = np.float32(power.mean() / 10 ** (snr_db / 10))
    noise = level * (np.float32(0.5) + rng.random(power.shape, dtype=np.float32))  # mean 1, spread like a periodogram
    return np.log(power + noise).astype(np.float32)


def feature_stretch(feats: np.ndarray, rate: float) -> np.ndarray:
    """Resample frames in time: ``rate`` > 1 shortens (faster speech)."""
    n = feats.shape[0]
    m = max(2, int(round(n / rate)))
    pos = np.linspace(0, n - 1, m)
    i = np.floor(pos).astype(int)
    j = np.minimum(i + 1, n - 1)
    a = (pos - i)[:, None].astype(np.float32)
    return ((1 - a) * feats[i] + a * feats[j]).astype(np.float32)


def _pitch_weights(semitones: float, feat_cfg) -> tuple[np.ndarray, np.ndarray]:
    """For each band k: the lower source band j and the weight of j + 1, for f_k / 2**(s/12)."""
    centres = _mel_centres(feat_cfg)
    source = np.clip(centres / 2 ** (semitones / 12), centres[0], centres[-1])
    j = np.clip(np.searchsorted(centres, source, side="right") - 1, 0, len(centres) - 2)
    a = ((source - centres[j]) / (centres[j + 1] - centres[j])).astype(np.float32)
    return j, a


def feature_pitch(logmel: np.ndarray, semitones: float, feat_cfg) -> np.ndarray:
    """Shift spectral content by ``semitones``: energy at f moves to f * 2**(s/12).

    Linear interpolation along the mel axis by indexing (no BLAS call: cheap in data-loader workers).
    """
    j, a = _pitch_weights(semitones, feat_cfg)
    return ((1 - a) * logmel[:, j] + a * logmel[:, j + 1]).astype(np.float32)


@dataclass(frozen=True)
class FeatureAugmentConfig:
    """On-the-fly training augmentation of stored log-mel frames, plus SpecAugment."""

    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    stretch_prob: float = 0.5
    stretch: tuple[float, float] = (0.85, 1.15)
    pitch_prob: float = 0.5
    semitones: tuple[float, float] = (-2.0, 2.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    specaug: bool = True
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_fraction: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureAugmentConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


def augment_logmel(logmel: np.ndarray, rng: np.random.Generator, cfg: FeatureAugmentConfig, feat_cfg) -> np.ndarray:
    """Random noise / stretch / pitch / gain on raw log-mel frames (before deltas)."""
    y = np.asarray(logmel, dtype=np.float32)
    if rng.uniform() < cfg.stretch_prob:
        y = feature_stretch(y, float(rng.uniform(*cfg.stretch)))
    if rng.uniform() < cfg.pitch_prob:
        y = feature_pitch(y, float(rng.uniform(*cfg.semitones)), feat_cfg)
    y = y + np.float32(np.log(10 ** (rng.uniform(*cfg.gain_db) / 10)))
    if rng.uniform() < cfg.noise_prob:
        y = feature_noise(y, rng, float(rng.uniform(*cfg.snr_db)))
    return y


def notebook_feature_copies(logmel: np.ndarray, rng: np.random.Generator, feat_cfg) -> list[np.ndarray]:
    """Feature-domain stand-ins for :func:`notebook_copies`: noise, and stretch(0.8)+pitch(0.7)."""
    return [
        feature_noise(logmel, rng, float(rng.uniform(15.0, 30.0))),
        feature_pitch(feature_stretch(logmel, 0.8), 0.7, feat_cfg),
    ]
