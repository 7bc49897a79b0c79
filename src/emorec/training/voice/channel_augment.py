"""Channel and level augmentation of training waveforms (training folds only).

Corpora differ in level (median RMS from 0.009 to 0.10), microphone, room and
codec; a model trained on one corpus learns those cues along with the emotion.
These transforms make a training copy sound as if recorded elsewhere:

- ``gain``: level change (the features are level-invariant; this guards the rest);
- ``codec_roundtrip``: MP3 or Opus encode + decode at a low bit rate (PyAV);
- ``band_limit``: telephone / cheap-microphone band (high- and low-pass);
- ``reverberate``: convolution with a synthetic room impulse response
  (exponentially decaying noise with a chosen RT60, plus a direct path);
- ``add_noise``: white, pink or brown noise, or mains hum, at an SNR;
- ``change_speed``: resampling (tempo and pitch together, like a tape).

The training pipeline stores a few such copies per clip and draws them only
for training-fold items (``VoiceItems(train=True)``); evaluation clips are
never transformed. Everything is seeded by the caller's generator.

>>> rng = np.random.default_rng(0)
>>> x = (0.1 * np.sin(np.arange(16000) / 5)).astype("float32")
>>> y = channel_augment(x, rng, ChannelAugmentConfig())
>>> y.dtype == np.float32 and 0.5 * x.size < y.size < 1.5 * x.size
True
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16000


def gain(x: np.ndarray, db: float) -> np.ndarray:
    return (x * np.float32(10 ** (db / 20))).astype(np.float32)


def codec_roundtrip(x: np.ndarray, codec: str = "mp3", bitrate: int = 32000, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Encode ``x`` with ``codec`` (``mp3`` or ``opus``) at ``bitrate`` and decode it again, same length."""
    import av

    from emorec.voice.audio import resample

    rate = 48000 if codec == "opus" else sample_rate
    y = resample(np.asarray(x, dtype=np.float32), sample_rate, rate)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    scale = 0.99 / peak if peak > 0.99 else 1.0
    pcm = np.clip(y * scale * 32767, -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    fmt, name = ("ogg", "libopus") if codec == "opus" else ("mp3", "libmp3lame")
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(name, rate=rate)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1152
        for start in range(0, pcm.size, frame_size):
            chunk = pcm[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts = []
    with av.open(buf, "r") as inp:
        for frame in inp.decode(audio=0):
            arr = frame.to_ndarray()
            arr = arr.astype(np.float32) / 32768.0 if arr.dtype == np.int16 else arr.astype(np.float32)
            parts.append(arr.mean(axis=0) if arr.ndim == 2 and not frame.format.is_packed else arr.reshape(-1))
    z = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    z = resample(z / scale, rate, sample_rate)
    return _align(z, x.size)


def _align(z: np.ndarray, n: int) -> np.ndarray:
    """Same length as the source (codecs add priming samples at the start and padding at the end)."""
    z = np.asarray(z, dtype=np.float32)
    if z.size > n:
        start = min(z.size - n, max(0, (z.size - n) // 2))
        z = z[start : start + n]
    elif z.size < n:
        z = np.pad(z, (0, n - z.size))
    return z


def band_limit(x: np.ndarray, low_hz: float = 300.0, high_hz: float = 3400.0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """4th-order Butterworth band-pass (zero phase); ``low_hz`` 0 gives a low-pass only."""
    from scipy.signal import butter, sosfiltfilt

    nyq = sample_rate / 2
    high = min(high_hz, 0.98 * nyq)
    if low_hz > 0:
        sos = butter(4, [low_hz / nyq, high / nyq], btype="band", output="sos")
    else:
        sos = butter(4, high / nyq, btype="low", output="sos")
    if x.size <= 27:
        return x.astype(np.float32)
    return sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def synthetic_rir(rng: np.random.Generator, rt60: float = 0.4, sample_rate: int = SAMPLE_RATE,
                  direct_ratio_db: float = 3.0) -> np.ndarray:
    """Room impulse response: a direct path and exponentially decaying noise reaching -60 dB at ``rt60`` s."""
    n = max(16, int(rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # 60 dB = ln(1000)
    delay = int(rng.integers(int(0.002 * sample_rate), int(0.01 * sample_rate)))  # first reflections 2-10 ms later
    tail = np.concatenate([np.zeros(delay), tail])[:n]
    tail_energy = float(np.sum(tail**2)) + 1e-12
    h = tail * np.sqrt(10 ** (-direct_ratio_db / 10) / tail_energy)
    h[0] = 1.0
    return (h / np.sqrt(np.sum(h**2))).astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir`` (same length as ``x``, level kept)."""
    from scipy.signal import fftconvolve

    y = fftconvolve(x.astype(np.float64), rir.astype(np.float64))[: x.size]
    rms_x, rms_y = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y**2))
    return (y * (rms_x / rms_y if rms_y > 0 else 1.0)).astype(np.float32)


def coloured_noise(n: int, rng: np.random.Generator, colour: str = "pink") -> np.ndarray:
    """Unit-RMS noise: ``white``, ``pink`` (1/f) or ``brown`` (1/f^2) power spectrum."""
    white = rng.standard_normal(n)
    if colour == "white" or n < 4:
        y = white
    else:
        spec = np.fft.rfft(white)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec = spec / (np.sqrt(f) if colour == "pink" else f)
        y = np.fft.irfft(spec, n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def hum(n: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS mains hum (50 or 60 Hz and harmonics)."""
    f0 = 50.0 if rng.uniform() < 0.5 else 60.0
    t = np.arange(n) / sample_rate
    y = sum((0.6 ** k) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(4))
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` scaled to ``snr_db`` below the signal's power."""
    power = float(np.mean(x.astype(np.float64) ** 2)) + 1e-12
    return (x + noise[: x.size] * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))).astype(np.float32)


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch rises with it), by resampling."""
    from emorec.voice.audio import resample

    if abs(factor - 1.0) < 1e-6:
        return x.astype(np.float32)
    return resample(x.astype(np.float32), int(round(SAMPLE_RATE * factor)), SAMPLE_RATE)


@dataclass(frozen=True)
class ChannelAugmentConfig:
    """Probabilities and ranges of each channel/level transform of one training copy."""

    gain_db: tuple[float, float] = (-20.0, 20.0)
    codec_prob: float = 0.3
    codecs: tuple[str, ...] = ("mp3", "opus")
    bitrate_kbps: tuple[float, float] = (16.0, 48.0)
    band_prob: float = 0.3
    band_low_hz: tuple[float, float] = (100.0, 400.0)
    band_high_hz: tuple[float, float] = (3000.0, 7000.0)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.2, 0.9)
    noise_prob: float = 0.4
    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown", "hum")
    speed_prob: float = 0.3
    speed: tuple[float, float] = (0.9, 1.1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelAugmentConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


def channel_augment(x: np.ndarray, rng: np.random.Generator, cfg: ChannelAugmentConfig = ChannelAugmentConfig(),
                    sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One randomly transformed copy of a training clip (never applied to evaluation clips)."""
    y = np.asarray(x, dtype=np.float32)
    if rng.uniform() < cfg.speed_prob:
        y = change_speed(y, float(rng.uniform(*cfg.speed)))
    if rng.uniform() < cfg.reverb_prob:
        y = reverberate(y, synthetic_rir(rng, float(rng.uniform(*cfg.rt60)), sample_rate))
    if rng.uniform() < cfg.band_prob:
        y = band_limit(y, float(rng.uniform(*cfg.band_low_hz)), float(rng.uniform(*cfg.band_high_hz)), sample_rate)
    if rng.uniform() < cfg.noise_prob:
        kind = cfg.noise_kinds[int(rng.integers(0, len(cfg.noise_kinds)))]
        noise = hum(y.size, rng, sample_rate) if kind == "hum" else coloured_noise(y.size, rng, kind)
        y = add_noise(y, noise, float(rng.uniform(*cfg.snr_db)))
    if rng.uniform() < cfg.codec_prob:
        codec = cfg.codecs[int(rng.integers(0, len(cfg.codecs)))]
        y = codec_roundtrip(y, codec, int(1000 * rng.uniform(*cfg.bitrate_kbps)), sample_rate)
    y = gain(y, float(rng.uniform(*cfg.gain_db)))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y / peak * 0.99).astype(np.float32) if peak > 1.0 else y
