"""Turn uploaded bytes into arrays, refusing anything unsafe before it is decoded.

Images: the type comes from the magic bytes; width x height is read from the
header and checked against the pixel limit before any pixel is decoded
(decompression bombs); truncated or corrupt files are refused, not half-decoded.
Audio: the type comes from the magic bytes; the duration is bounded while reading.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from emorec.serve.errors import ApiError
from emorec.serve.sniff import sniff

IMAGE_TYPES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
AUDIO_TYPES = "WAV, FLAC, OGG (Vorbis/Opus), AIFF or MP3, or a video with sound (MP4, MOV, WebM, MKV, AVI, FLV)"


def _what_it_is(kind: str) -> str:
    return {"text": "text", "unknown": "an unrecognised format"}.get(kind, f"a {kind.upper()} file")


def check_image_type(name: str, data: bytes) -> str:
    """The image format of ``data`` or ApiError 400/415."""
    if not data:
        raise ApiError(400, "empty_upload", f"{name} is empty; choose an image file")
    found = sniff(data)
    if found.media != "image":
        raise ApiError(415, "unsupported_type",
                       f"{name} is not an image (its content is {_what_it_is(found.kind)}); "
                       f"upload a {IMAGE_TYPES} photo")
    return found.kind


def decode_image(name: str, data: bytes, max_pixels: int, mode: Literal["bgr", "gray"] = "gray") -> np.ndarray:
    """Decode an uploaded image to a uint8 gray (or ``mode="bgr"``) array, EXIF orientation applied.

    The type (415) and the pixel count (413) are checked here from the bytes and
    the header; decoding itself is :func:`emorec.face.imageio.decode_bytes`, the
    same code as ``emorec face predict``, so truncated files are refused (422).

    Example:
        >>> import cv2
        >>> ok, buf = cv2.imencode(".png", np.zeros((40, 60, 3), np.uint8))
        >>> decode_image("x.png", buf.tobytes(), max_pixels=10_000, mode="bgr").shape
        (40, 60, 3)
    """
    from PIL import Image

    from emorec.errors import InputError
    from emorec.face.imageio import decode_bytes

    check_image_type(name, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                width, height = header.size
        except Image.DecompressionBombError:
            raise _too_many_pixels(name, None, max_pixels) from None
        except Exception:
            raise ApiError(422, "invalid_image",
                           f"{name} could not be read as an image (corrupt header); re-export it") from None
    if width * height > max_pixels:
        raise _too_many_pixels(name, (width, height), max_pixels)
    try:
        return decode_bytes(data, mode=mode, name=name, max_pixels=max_pixels)
    except InputError as exc:
        raise ApiError(422, "invalid_image", str(exc)) from None


def _too_many_pixels(name: str, size: tuple[int, int] | None, max_pixels: int) -> ApiError:
    dims = f" ({size[0]}x{size[1]})" if size else ""
    return ApiError(413, "image_too_large",
                    f"{name}{dims} has more than {max_pixels:,} pixels; resize it and try again")


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


MAX_CHANNELS = 64
DECODE_BLOCK_SAMPLES = 1 << 19  # frames x channels decoded per step: about 2 MB of float32


def decode_audio(name: str, data: bytes, max_seconds: float, max_samples: int | None = None,
                 target_rate: int | None = None) -> Audio:
    """Decode an uploaded audio file to mono float32, refusing clips longer than ``max_seconds``.

    Decompression bombs (a small FLAC of 8 channels at 384 kHz decodes to hundreds of MB)
    are refused from the header when frames x channels exceeds ``max_samples``, and the
    decoded count is checked again while decoding (MP3 headers only estimate it). Audio is
    decoded in blocks, each mixed down to mono at once and, with ``target_rate``, resampled
    as a stream, so memory stays near the size of the mono result whatever the file holds.

    Example:
        >>> import soundfile as sf
        >>> buf = io.BytesIO(); sf.write(buf, np.zeros(8000, np.float32), 16000, format="WAV")
        >>> decode_audio("a.wav", buf.getvalue(), max_seconds=5).seconds
        0.5
    """
    import soundfile as sf

    if not data:
        raise ApiError(400, "empty_upload", f"{name} is empty; choose an audio file")
    found = sniff(data)
    if found.media != "audio":
        raise ApiError(415, "unsupported_type",
                       f"{name} is not audio (its content is {_what_it_is(found.kind)}); "
                       f"upload {AUDIO_TYPES}")
    if not found.supported:
        raise ApiError(415, "unsupported_type",
                       f"{name} is {found.kind.upper()} audio, which emorec cannot decode; "
                       f"convert it to {AUDIO_TYPES} (the web page records WAV)")
    if found.kind in MEDIA_CONTAINERS:  # video files and MP4/WebM audio: the sound track through PyAV
        return _decode_media(name, data, found.kind, max_seconds, max_samples, target_rate)
    if found.kind == "wav" and _wav_truncated(data):
        raise ApiError(422, "invalid_audio",
                       f"{name} is a truncated WAV (its header promises more data); upload the complete file")
    estimated = found.kind == "mp3"  # mp3 frame counts are estimates: checked while decoding
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            rate, channels, announced = int(fh.samplerate), int(fh.channels), int(fh.frames)
            if not 1000 <= rate <= 384_000:
                raise ApiError(422, "invalid_audio", f"{name} has an implausible sample rate {rate} Hz")
            if not 1 <= channels <= MAX_CHANNELS:
                raise ApiError(422, "invalid_audio", f"{name} has an implausible channel count ({channels})")
            limit = int(max_seconds * rate)
            if 0 < announced and announced > limit and not estimated:
                raise _too_long(name, announced / rate, max_seconds)
            if max_samples and announced * channels > max_samples and not estimated:
                raise _too_many_samples(name, rate, channels, announced, max_samples)
            samples = _decode_blocks(fh, name, rate, channels, limit, max_samples, target_rate, max_seconds)
    except ApiError:
        raise
    except Exception:
        raise ApiError(422, "invalid_audio",
                       f"{name} could not be decoded (truncated or corrupt {found.kind.upper()}); "
                       "upload the complete file") from None
    decoded, mono = samples
    if decoded == 0:
        raise ApiError(422, "invalid_audio", f"{name} contains no audio samples")
    # Same tolerance as emorec.voice.audio: mp3 frame counts are estimates.
    if announced > 0 and decoded < min(announced, limit) * 0.98 - 1152:
        raise ApiError(422, "invalid_audio",
                       f"{name} is truncated ({decoded} of {announced} samples); upload the complete file")
    out_rate = target_rate if target_rate and target_rate != rate else rate
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), out_rate)


def _decode_blocks(fh, name: str, rate: int, channels: int, limit: int, max_samples: int | None,  # noqa: ANN001
                   target_rate: int | None, max_seconds: float) -> tuple[int, np.ndarray]:
    """(frames decoded, mono signal): blocks mixed down, and resampled when asked, one at a time."""
    resampler = None
    if target_rate and target_rate != rate:
        import soxr

        resampler = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
    block = max(256, DECODE_BLOCK_SAMPLES // channels)
    pieces: list[np.ndarray] = []
    decoded = 0
    while True:
        chunk = fh.read(block, dtype="float32", always_2d=True)
        n = int(chunk.shape[0])
        decoded += n
        if decoded > limit:  # read at most one block past the limit: enough to know it is too long
            raise _too_long(name, None, max_seconds)
        if max_samples and decoded * channels > max_samples:
            raise _too_many_samples(name, rate, channels, None, max_samples)
        mono = chunk.mean(axis=1, dtype=np.float32) if channels > 1 else chunk[:, 0]
        del chunk
        if not np.isfinite(mono).all():
            raise ApiError(422, "invalid_audio", f"{name} contains invalid (NaN/inf) samples")
        last = n < block
        if resampler is not None:
            mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
        if mono.size:
            pieces.append(np.array(mono, dtype=np.float32, copy=True))
        if last:
            break
    return decoded, (np.concatenate(pieces) if pieces else np.zeros(0, np.float32))


def _too_many_samples(name: str, rate: int, channels: int, frames: int | None, max_samples: int) -> ApiError:
    what = f"{frames * channels:,} samples" if frames else "more samples than allowed"
    return ApiError(413, "audio_too_large",
                    f"{name} decodes to {what} ({channels} channels at {rate} Hz), over the "
                    f"{max_samples:,} limit; send mono or stereo at 48 kHz or less")


def _wav_truncated(data: bytes) -> bool:
    """True when a RIFF/WAVE data chunk claims more bytes than were uploaded."""
    import struct

    pos, size = 12, len(data)
    while pos + 8 <= size:
        chunk_id, chunk_size = struct.unpack_from("<4sI", data, pos)
        if chunk_id == b"data":
            if chunk_size in (0, 0xFFFFFFFF):  # streamed WAV: size never written
                return False
            return pos + 8 + chunk_size > size
        pos += 8 + chunk_size + (chunk_size & 1)
    return False


MEDIA_CONTAINERS = ("webm", "mp4", "flv", "avi")


def _decode_media(name: str, data: bytes, kind: str, max_seconds: float, max_samples: int | None,
                  target_rate: int | None) -> Audio:
    """The sound track of an uploaded video (or MP4/WebM audio), with the same limits, via emorec.voice.audio."""
    from emorec.errors import InputError
    from emorec.voice.audio import read_media_bytes

    rate = target_rate or 16000
    try:
        samples = read_media_bytes(data, name, sample_rate=rate, max_seconds=max_seconds,
                                   max_samples=max_samples, allow_silent=True)
    except InputError as exc:
        message = str(exc)
        if "longer than" in message:
            raise _too_long(name, None, max_seconds) from None
        if "samples (" in message and "over the limit" in message:
            raise ApiError(413, "audio_too_large", message) from None
        raise ApiError(422, "invalid_audio", message) from None
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), rate)


def _too_long(name: str, seconds: float | None, max_seconds: float) -> ApiError:
    length = f" ({seconds:.1f} s)" if seconds is not None else ""
    return ApiError(413, "audio_too_long",
                    f"{name}{length} is longer than the {max_seconds:g} s limit; trim it and try again")
