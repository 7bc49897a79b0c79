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

import numpy as np

from emorec.serve.errors import ApiError
from emorec.serve.sniff import sniff

IMAGE_TYPES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
AUDIO_TYPES = "WAV, FLAC, OGG (Vorbis/Opus), AIFF or MP3"


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


def decode_image(name: str, data: bytes, max_pixels: int, mode: str = "gray") -> np.ndarray:
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


def decode_audio(name: str, data: bytes, max_seconds: float) -> Audio:
    """Decode an uploaded audio file to mono float32, refusing clips longer than ``max_seconds``.

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
    if found.kind == "wav" and _wav_truncated(data):
        raise ApiError(422, "invalid_audio",
                       f"{name} is a truncated WAV (its header promises more data); upload the complete file")
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            rate = int(fh.samplerate)
            if not 1000 <= rate <= 384_000:
                raise ApiError(422, "invalid_audio", f"{name} has an implausible sample rate {rate} Hz")
            limit = int(max_seconds * rate)
            announced = fh.frames
            if 0 < announced and announced > limit and found.kind != "mp3":
                raise _too_long(name, announced / rate, max_seconds)
            # Read at most one frame past the limit: enough to know it is too long.
            samples = fh.read(frames=limit + 1, dtype="float32", always_2d=True)
    except ApiError:
        raise
    except Exception:
        raise ApiError(422, "invalid_audio",
                       f"{name} could not be decoded (truncated or corrupt {found.kind.upper()}); "
                       "upload the complete file") from None
    if len(samples) > limit:
        raise _too_long(name, None, max_seconds)
    if len(samples) == 0:
        raise ApiError(422, "invalid_audio", f"{name} contains no audio samples")
    # Same tolerance as emorec.voice.audio: mp3 frame counts are estimates.
    if announced > 0 and len(samples) < min(announced, limit) * 0.98 - 1152:
        raise ApiError(422, "invalid_audio",
                       f"{name} is truncated ({len(samples)} of {announced} samples); upload the complete file")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise ApiError(422, "invalid_audio", f"{name} contains invalid (NaN/inf) samples")
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), rate)


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


def _too_long(name: str, seconds: float | None, max_seconds: float) -> ApiError:
    length = f" ({seconds:.1f} s)" if seconds is not None else ""
    return ApiError(413, "audio_too_long",
                    f"{name}{length} is longer than the {max_seconds:g} s limit; trim it and try again")
