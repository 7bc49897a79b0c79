"""Reading speech audio: wav/flac/ogg/mp3 and the sound track of video files, any rate, any channels.

Policy (also written into every voice model card):

- Decoding: soundfile (libsndfile >= 1.1 decodes mp3) for audio files; PyAV
  (FFmpeg with its codecs bundled in the wheel) for the sound track of video
  files (mp4, mkv, mov, webm, avi, flv, m4v) and audio that libsndfile cannot
  read (m4a, aac, opus, wma). Decoding runs in blocks: each block is mixed
  down to mono at once (channels averaged) and resampled to 16 kHz with soxr
  ("HQ") as a stream, so memory follows the mono 16 kHz result, never the
  file's channel count or rate.
- Limits, checked from the header before anything is decoded and again while
  decoding (mp3 and container headers only estimate lengths): at most
  ``max_seconds`` (read_audio; streams have no length limit), at most
  ``max_samples`` decoded samples (frames x channels: a small FLAC of 8
  channels at 384 kHz is a decompression bomb), at most 64 channels and
  384 kHz.
- Bad input raises :class:`emorec.errors.InputError` with one line naming the
  file: not audio, a video without a sound track, empty, truncated (header
  promises more than the file holds, or the decoder loses sync), NaN/inf
  samples, or silent (peak below -60 dBFS).
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emorec.errors import InputError

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-3  # -60 dBFS: quieter than any usable recording
TRIM_TOP_DB = 40.0
DEFAULT_MAX_LOAD_SECONDS = 1800.0  # read_audio refuses more; stream_audio has no limit
# Decoded samples (frames x channels) read_audio accepts: 30 min of 48 kHz stereo. Streams check
# the rate and channel count only; their memory is flat whatever the length.
DEFAULT_MAX_SAMPLES = int(DEFAULT_MAX_LOAD_SECONDS * 48000 * 2)
MAX_CHANNELS = 64
MAX_RATE = 384_000
DECODE_BLOCK_SAMPLES = 1 << 19  # frames x channels per decoding step: 2 MB of float32
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".flv", ".m4v")
OTHER_AUDIO_EXTENSIONS: tuple[str, ...] = (".m4a", ".aac", ".opus", ".wma")  # decoded by PyAV
MEDIA_EXTENSIONS: tuple[str, ...] = AUDIO_EXTENSIONS + OTHER_AUDIO_EXTENSIONS + VIDEO_EXTENSIONS
_UNREADABLE = "not a readable audio file (expected wav, flac, ogg or mp3, or a video with sound: mp4, mkv, mov, webm, avi, flv)"


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int  # from the header: exact for wav/flac, an estimate for mp3 and video containers
    format: str
    backend: str = "soundfile"  # soundfile | av
    data: bytes | None = field(default=None, repr=False, compare=False)  # in-memory media (uploads)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def estimated(self) -> bool:
        return self.backend == "av" or self.format.upper() == "MP3"


def _sf():
    import soundfile  # imported lazily: keeps `import emorec` light

    return soundfile


def _av():
    try:
        import av
    except ImportError:
        raise InputError("reading the sound of video files needs PyAV: pip install av") from None
    return av


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


def _av_open(path: Path, data: bytes | None = None):
    import io

    return _av().open(io.BytesIO(data) if data is not None else str(path))


def _av_info(path: Path, data: bytes | None = None) -> AudioInfo:
    try:
        with _av_open(path, data) as container:
            if not container.streams.audio:
                kind = "video" if container.streams.video else "file"
                raise InputError(f"{path}: this {kind} has no sound track: nothing to analyse")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0) or 1
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000  # av.time_base: microseconds
            else:
                seconds = 0.0
            fmt = str(container.format.name).split(",")[0].upper()
    except InputError:
        raise
    except Exception:
        raise InputError(f"{path}: {_UNREADABLE}") from None
    if rate <= 0:
        raise InputError(f"{path}: the sound track has no sample rate: the file is damaged")
    frames = int(round(seconds * rate))
    return _checked(AudioInfo(path, rate, channels, frames, fmt, backend="av", data=data))


def _checked(info: AudioInfo) -> AudioInfo:
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise InputError(f"{info.path}: implausible channel count ({info.channels}); at most {MAX_CHANNELS} are read")
    if not 1000 <= info.sample_rate <= MAX_RATE:
        raise InputError(f"{info.path}: implausible sample rate {info.sample_rate} Hz (1 kHz to 384 kHz are read)")
    return info


def audio_info(path: str | Path) -> AudioInfo:
    """Sample rate, channels and length of an audio file or a video's sound track; InputError if unusable.

    >>> audio_info("examples/speech_happy.wav").sample_rate  # doctest: +SKIP
    16000
    """
    from emorec.inputs import check_input_file

    path = Path(path)
    # Regular, readable file: a FIFO, a symlink loop or a permission problem each say so (RELEASE).
    check_input_file(path, str(path), what="audio file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes): record or export the audio again")
    if path.suffix.lower() in VIDEO_EXTENSIONS + OTHER_AUDIO_EXTENSIONS:
        info = _av_info(path)
    else:
        sf = _sf()
        try:
            raw = sf.info(str(path))
        except Exception:  # libsndfile errors are untyped across versions; FFmpeg may know the format
            info = _av_info(path)
        else:
            if raw.frames <= 0 or raw.samplerate <= 0:
                raise InputError(f"{path}: the file holds no audio samples")
            if path.suffix.lower() == ".wav" or raw.format == "WAV":
                if _wav_truncated(path):
                    raise InputError(f"{path}: truncated WAV (the header promises more data than the file holds)")
            info = AudioInfo(path, int(raw.samplerate), int(raw.channels), int(raw.frames), str(raw.format))
    return _checked(info)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels: (n,) or (n, channels) -> (n,) float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
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


def _too_many(info: AudioInfo, max_samples: int, decoded: int | None = None) -> InputError:
    what = f"{decoded:,}+" if decoded is not None else f"{info.frames * info.channels:,}"
    return InputError(
        f"{info.path}: decodes to {what} samples ({info.channels} channels at {info.sample_rate} Hz), over the "
        f"limit of {max_samples:,}: convert it to mono or stereo at 48 kHz or less (e.g. ffmpeg -ac 1 -ar 16000)")


def _native_blocks(info: AudioInfo, frames: int | None = None) -> Iterator[np.ndarray]:
    """Mono float32 blocks at the file's own rate, each mixed down as soon as it is decoded."""
    if info.backend == "av":
        yield from _av_blocks(info)
        return
    sf = _sf()
    block = max(256, DECODE_BLOCK_SAMPLES // max(1, info.channels))
    if frames:
        block = max(256, min(block, frames))
    with sf.SoundFile(str(info.path)) as fh:
        while True:
            data = fh.read(block, dtype="float32", always_2d=True)
            n = data.shape[0]
            if n:
                yield to_mono(data)
            del data
            if n < block:
                break


def _av_blocks(info: AudioInfo) -> Iterator[np.ndarray]:
    with _av_open(info.path, info.data) as container:
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.sample_rate and int(frame.sample_rate) != info.sample_rate:
                raise InputError(f"{info.path}: the sound track changes its sample rate midway; convert it first")
            arr = frame.to_ndarray()
            if frame.format.is_planar:  # (channels, samples)
                arr = arr.mean(axis=0) if arr.shape[0] > 1 else arr[0]
            else:  # packed: (1, samples * channels)
                ch = frame.layout.nb_channels or 1
                arr = arr.reshape(-1, ch).mean(axis=1) if ch > 1 else arr.reshape(-1)
            if arr.dtype.kind in "iu":
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
            yield np.ascontiguousarray(arr, dtype=np.float32)


def _blocks(info: AudioInfo, sample_rate: int, block_frames: int | None,
            max_samples: int | None) -> Iterator[tuple[np.ndarray, int]]:
    """(mono block at ``sample_rate``, frames decoded so far), with the samples limit and NaN check applied."""
    resampler = None
    if info.sample_rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    decoded = 0
    pending: list[np.ndarray] = []
    held = 0
    try:
        native = int(block_frames * info.sample_rate / sample_rate) if block_frames else None
        source = _native_blocks(info, native)
        while True:
            block = next(source, None)
            last = block is None
            if block is not None:
                decoded += block.size
                if max_samples is not None and decoded * info.channels > max_samples:
                    raise _too_many(info, max_samples, decoded * info.channels)
                if not np.all(np.isfinite(block)):
                    raise InputError(f"{info.path}: contains NaN or infinite samples")
            else:
                block = np.zeros(0, np.float32)
            out = resampler.resample_chunk(block, last=last) if resampler is not None else block
            if out.size:
                pending.append(np.array(out, dtype=np.float32, copy=True))
                held += out.size
            if block_frames is not None:
                while held >= block_frames:  # blocks of exactly block_frames, the rest waits
                    joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                    yield joined[:block_frames], decoded
                    pending = [joined[block_frames:]] if joined.size > block_frames else []
                    held = joined.size - block_frames
            if pending and held and (last or block_frames is None):
                yield np.concatenate(pending) if len(pending) > 1 else pending[0], decoded
                pending, held = [], 0
            if last:
                break
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{info.path}: truncated or corrupt audio ({_short(exc)})") from None
    if decoded == 0:
        raise InputError(f"{info.path}: no audio samples could be decoded (damaged or empty sound track)")
    if not info.estimated and decoded < 0.98 * info.frames - 1152:
        raise InputError(f"{info.path}: truncated audio ({decoded} of {info.frames} samples decoded)")
    if info.format.upper() == "MP3" and decoded < 0.98 * info.frames - 1152:  # decoder stopped early
        raise InputError(f"{info.path}: truncated audio ({decoded} of {info.frames} samples decoded)")


def read_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = DEFAULT_MAX_LOAD_SECONDS,
    allow_silent: bool = False,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
) -> np.ndarray:
    """Whole file (or a video's sound track) as mono float32 at ``sample_rate``.

    Files longer than ``max_seconds`` or with more than ``max_samples`` samples
    (frames x channels) are refused before decoding (use :func:`stream_audio`
    for long recordings).

    >>> x = read_audio("examples/speech_happy.wav")  # doctest: +SKIP
    >>> x.dtype, x.ndim                                # doctest: +SKIP
    (dtype('float32'), 1)
    """
    return _read(audio_info(path), sample_rate, max_seconds, allow_silent, max_samples)


def read_media_bytes(data: bytes, name: str, sample_rate: int = SAMPLE_RATE,
                     max_seconds: float | None = DEFAULT_MAX_LOAD_SECONDS,
                     max_samples: int | None = DEFAULT_MAX_SAMPLES, allow_silent: bool = False) -> np.ndarray:
    """The sound track of an in-memory video or audio file (an upload) through PyAV, same limits as :func:`read_audio`.

    >>> x = read_media_bytes(open("clip.mp4", "rb").read(), "clip.mp4")  # doctest: +SKIP
    """
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    return _read(_av_info(Path(name), bytes(data)), sample_rate, max_seconds, allow_silent, max_samples)


def _read(info: AudioInfo, sample_rate: int, max_seconds: float | None, allow_silent: bool,
          max_samples: int | None) -> np.ndarray:
    if max_seconds is not None and info.duration > max_seconds:
        raise InputError(
            f"{info.path}: {info.duration:.0f} s is longer than {max_seconds:.0f} s; "
            "stream it in windows (VoiceEmotionRecognizer does this for files)"
        )
    if max_samples is not None and info.frames * info.channels > max_samples:
        raise _too_many(info, max_samples)
    limit = None
    if max_seconds is not None:  # containers only estimate: stop once decoding passes the limit
        limit = int(max_seconds * info.sample_rate * 1.02) + info.sample_rate
    parts = []
    for block, decoded in _blocks(info, sample_rate, None, max_samples):
        if limit is not None and decoded > limit:
            raise InputError(f"{info.path}: longer than {max_seconds:.0f} s; stream it in windows")
        parts.append(block)
    x = np.concatenate(parts) if len(parts) > 1 else parts[0]
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
    for block, _ in _blocks(info, sample_rate, max(1, int(block_seconds * sample_rate)), None):
        yield block


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
