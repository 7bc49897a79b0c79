"""Reading speech audio: any of wav/flac/ogg/mp3, any rate, mono or stereo.

Policy (also written into every voice model card):

- Decoding: soundfile (libsndfile >= 1.1 decodes mp3); channels are averaged
  to mono; audio is resampled to 16 kHz with soxr ("HQ").
- Bad input raises :class:`emorec.errors.InputError` with one line naming the
  file: not audio, empty, truncated (header promises more than the file holds,
  or the decoder loses sync), NaN/inf samples, or silent (peak below -60 dBFS).
- Length: :func:`trim_silence` drops leading/trailing silence (frames 40 dB
  below the loudest frame). Training crops/pads to a fixed window
  (:func:`fit_length`); inference never crops: long recordings are split into
  speech segments, and clips shorter than the model's ``min_seconds`` give an
  empty result with a reason.
- Long files are read in blocks (:func:`stream_audio`) so memory does not grow
  with the recording's length.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emorec.errors import InputError

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-3  # -60 dBFS: quieter than any usable recording
TRIM_TOP_DB = 40.0
DEFAULT_MAX_LOAD_SECONDS = 1800.0  # read_audio refuses more; stream_audio has no limit


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _sf():
    import soundfile  # imported lazily: keeps `import emorec` light

    return soundfile


def _wav_truncated(path: Path) -> bool:
    """True when a RIFF/WAVE data chunk claims more bytes than the file holds."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
                if chunk_id == b"data":
                    if chunk_size in (0, 0xFFFFFFFF):  # streamed WAV: size never written
                        return False
                    return pos + 8 + chunk_size > size
                pos += 8 + chunk_size + (chunk_size & 1)
    except OSError:
        return False
    return False


def audio_info(path: str | Path) -> AudioInfo:
    """Sample rate, channels and length of an audio file; InputError if unusable.

    >>> audio_info("examples/speech_happy.wav").sample_rate  # doctest: +SKIP
    16000
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes): record or export the audio again")
    sf = _sf()
    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile errors are untyped across versions
        raise InputError(f"{path}: not a readable audio file (expected wav, flac, ogg or mp3)") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise InputError(f"{path}: the file holds no audio samples")
    if path.suffix.lower() == ".wav" or info.format == "WAV":
        if _wav_truncated(path):
            raise InputError(f"{path}: truncated WAV (the header promises more data than the file holds)")
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels: (n,) or (n, channels) -> (n,) float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    elif x.ndim != 1:
        raise InputError(f"audio array must be 1-D (samples) or 2-D (samples, channels), got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float32 signal with soxr (or linear interpolation without soxr)."""
    if sr_in == sr_out or x.size == 0:
        return x.astype(np.float32, copy=False)
    try:
        import soxr
    except ImportError:  # training machines may lack soxr; accuracy is secondary there
        n_out = int(round(x.size * sr_out / sr_in))
        t = np.arange(n_out, dtype=np.float64) * (sr_in / sr_out)
        return np.interp(t, np.arange(x.size), x).astype(np.float32)
    return soxr.resample(x, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def check_signal(x: np.ndarray, name: str = "audio", allow_silent: bool = False) -> np.ndarray:
    """Raise InputError for an empty, non-finite or (unless allowed) silent signal."""
    if x.size == 0:
        raise InputError(f"{name}: no audio samples")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name}: contains NaN or infinite samples")
    if not allow_silent and float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise InputError(f"{name}: silent (peak below -60 dBFS): nothing to analyse")
    return x


def read_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = DEFAULT_MAX_LOAD_SECONDS,
    allow_silent: bool = False,
) -> np.ndarray:
    """Whole file as mono float32 at ``sample_rate``.

    Files longer than ``max_seconds`` are refused (use :func:`stream_audio`).

    >>> x = read_audio("examples/speech_happy.wav")  # doctest: +SKIP
    >>> x.dtype, x.ndim                                # doctest: +SKIP
    (dtype('float32'), 1)
    """
    info = audio_info(path)
    if max_seconds is not None and info.duration > max_seconds:
        raise InputError(
            f"{info.path}: {info.duration:.0f} s is longer than {max_seconds:.0f} s; "
            "stream it in windows (VoiceEmotionRecognizer does this for files)"
        )
    sf = _sf()
    try:
        data, sr = sf.read(str(info.path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise InputError(f"{info.path}: truncated or corrupt audio ({_short(exc)})") from None
    if data.shape[0] < 0.98 * info.frames - 1152:  # decoder stopped early (mp3 frames)
        raise InputError(
            f"{info.path}: truncated audio ({data.shape[0]} of {info.frames} samples decoded)"
        )
    x = resample(to_mono(data), sr, sample_rate)
    return check_signal(x, str(info.path), allow_silent=allow_silent)


def stream_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, block_seconds: float = 20.0
) -> Iterator[np.ndarray]:
    """Yield consecutive mono blocks at ``sample_rate``; memory stays flat.

    Silence is not an error here (a long recording may start silent); callers
    decide what to do with a recording that never contains speech.

    >>> total = sum(b.size for b in stream_audio("talk.flac"))  # doctest: +SKIP
    """
    info = audio_info(path)
    sf = _sf()
    block = max(1, int(block_seconds * info.sample_rate))
    resampler = None
    if info.sample_rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    decoded = 0
    try:
        with sf.SoundFile(str(info.path)) as fh:
            while True:
                data = fh.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                decoded += data.shape[0]
                mono = to_mono(data)
                if not np.all(np.isfinite(mono)):
                    raise InputError(f"{info.path}: contains NaN or infinite samples")
                out = resampler.resample_chunk(mono, last=last) if resampler is not None else mono
                if out.size:
                    yield out
                if last:
                    break
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{info.path}: truncated or corrupt audio ({_short(exc)})") from None
    if decoded == 0:
        raise InputError(f"{info.path}: no audio samples")
    if decoded < 0.98 * info.frames - 1152:
        raise InputError(f"{info.path}: truncated audio ({decoded} of {info.frames} samples decoded)")


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__


def frame_energy_db(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Frame RMS in dB (floor -120 dB)."""
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    n = 1 + (x.size - frame) // hop
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n, frame), strides=(x.strides[0] * hop, x.strides[0]), writeable=False
    )
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def trim_bounds(
    x: np.ndarray, sample_rate: int = SAMPLE_RATE, top_db: float = TRIM_TOP_DB, margin_s: float = 0.05
) -> tuple[int, int]:
    """(start, end) sample indices of the part louder than peak - ``top_db`` (plus a margin)."""
    frame, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    if x.size < frame:
        return 0, x.size
    db = frame_energy_db(x, frame, hop)
    loud = np.flatnonzero(db > db.max() - top_db)
    if loud.size == 0:
        return 0, x.size
    margin = int(margin_s * sample_rate)
    start = max(0, int(loud[0]) * hop - margin)
    end = min(x.size, int(loud[-1]) * hop + frame + margin)
    return start, end


def trim_silence(
    x: np.ndarray, sample_rate: int = SAMPLE_RATE, top_db: float = TRIM_TOP_DB, margin_s: float = 0.05
) -> np.ndarray:
    """Drop leading/trailing frames more than ``top_db`` below the loudest frame.

    Keeps ``margin_s`` of context on each side. An all-quiet signal is returned as is.

    >>> y = trim_silence(np.r_[np.zeros(8000), np.ones(1600) * 0.5, np.zeros(8000)].astype("float32"))
    >>> 1600 <= y.size < 4000
    True
    """
    start, end = trim_bounds(x, sample_rate, top_db, margin_s)
    return x[start:end]


def fit_length(
    x: np.ndarray,
    sample_rate: int,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Zero-pad (both sides) to ``min_seconds`` and crop to ``max_seconds``.

    Crops are centred, or random when ``rng`` is given (training).
    """
    if max_seconds is not None:
        limit = int(max_seconds * sample_rate)
        if x.size > limit:
            start = (x.size - limit) // 2 if rng is None else int(rng.integers(0, x.size - limit + 1))
            x = x[start : start + limit]
    if min_seconds is not None:
        need = int(min_seconds * sample_rate)
        if x.size < need:
            left = (need - x.size) // 2
            x = np.pad(x, (left, need - x.size - left))
    return x
