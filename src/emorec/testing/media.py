"""Synthetic media for tests and benchmarks: speech-like audio, images, videos, upload bytes.

Everything is generated with numpy (plus cv2 / soundfile for encoding); the
only real picture used is the repository's ``examples/astronaut.jpg``.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"  # in a source checkout
EXAMPLE_PHOTO = EXAMPLES / "astronaut.jpg"
EXAMPLE_VIDEO = EXAMPLES / "astronaut_pan.mp4"


# -- speech ----------------------------------------------------------------------------------------


def speech_like(seconds: float, sr: int = 16000, f0: float = 140.0, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """A voiced, formant-like signal with syllable-rate (4 Hz) amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t - np.pi / 2)) ** 2
    return (level * voiced * envelope / 3 + 0.003 * rng.normal(size=t.size)).astype(np.float32)


def steady_speech(seconds: float = 2.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Speech-like sound that never falls silent (no pauses for a VAD to cut), peak 0.6."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.5 * t) ** 2
    signal = 0.25 * voiced * envelope + 0.01 * rng.normal(size=t.size)
    return (signal / np.abs(signal).max() * 0.6).astype(np.float32)


def with_pauses(parts: list[float], pause: float = 1.0, sr: int = 16000, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech bursts of the given lengths separated by near-silent pauses; returns signal and burst times."""
    rng = np.random.default_rng(seed)
    chunks, times, t = [], [], 0.0
    for i, seconds in enumerate(parts):
        gap = (0.001 * rng.normal(size=int(pause * sr))).astype(np.float32)
        chunks.append(gap)
        t += pause
        chunks.append(speech_like(seconds, sr, f0=120 + 20 * i, seed=seed + i))
        times.append((t, t + seconds))
        t += seconds
    chunks.append((0.001 * rng.normal(size=int(pause * sr))).astype(np.float32))
    return np.concatenate(chunks), times


def write_audio(path: Path, x: np.ndarray, sr: int = 16000, subtype: str | None = None) -> Path:
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def wav_bytes(samples: np.ndarray, sr: int = 16000, fmt: str = "WAV") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt)
    return buf.getvalue()


def make_ravdess_folder(root: Path, actors=(1, 2, 3, 4), emotions=(1, 3, 4, 5), seconds: float = 1.2,
                        ext: str = "wav", nested: bool = False) -> list[Path]:
    """RAVDESS-named synthetic clips; each emotion gets its own pitch so a model can learn it."""
    paths = []
    for a in actors:
        for e in emotions:
            for stmt in (1, 2):
                name = f"03-01-{e:02d}-01-{stmt:02d}-01-{a:02d}.{ext}"
                folder = root / f"Actor_{a:02d}" if nested else root
                x = speech_like(seconds, f0=90 + 45 * e + 3 * a, seed=a * 100 + e * 10 + stmt)
                paths.append(write_audio(folder / name, x))
    return paths


# -- images and video ------------------------------------------------------------------------------


def jpeg_bytes(width: int = 640, height: int = 480, seed: int = 0, quality: int = 90) -> bytes:
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (9, 9), 0)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def photo_with_face(width: int = 640, height: int = 480) -> bytes:
    """examples/astronaut.jpg (a real face) placed on a width x height canvas, as JPEG."""
    import cv2

    face = cv2.imread(str(EXAMPLE_PHOTO), cv2.IMREAD_COLOR)
    assert face is not None, f"{EXAMPLE_PHOTO} missing: run python examples/make_examples.py"
    scale = min(width / face.shape[1], height / face.shape[0])
    face = cv2.resize(face, (int(face.shape[1] * scale), int(face.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 200, np.uint8)
    y0, x0 = (height - face.shape[0]) // 2, (width - face.shape[1]) // 2
    canvas[y0 : y0 + face.shape[0], x0 : x0 + face.shape[1]] = face
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_y4m(path: Path, jpeg: bytes, frames: int = 30) -> Path:
    """A Y4M video (Chromium's fake webcam input) showing the given JPEG in every frame."""
    import cv2

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    yuv = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + yuv)
    return path
