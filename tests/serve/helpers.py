"""Builders for the serve tests: synthetic models, media files, fake recognisers, a live server.

Nothing here downloads anything; media are synthesised with numpy/cv2/soundfile.
"""
from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PHOTO = REPO / "examples" / "astronaut.jpg"
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


# ---------------------------------------------------------------- synthetic ONNX models


def make_face_model(path: Path, labels: list[str] = FER_LABELS, seed: int = 0) -> Path:
    """A linear face classifier over 48x48 crops, input (N,1,48,48) -> logits (N,7), plus its card."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import ModelCard, card_path_for, sha256_file
    from emorec.face.preprocess import DEFAULT_INPUT

    rng = np.random.default_rng(seed)
    n_out = len(labels)
    weight = numpy_helper.from_array(rng.normal(0, 0.05, (48 * 48, n_out)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, n_out).astype(np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
        ],
        "serve_test_face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    ModelCard(name="serve-test-face", task="face", labels=list(labels), input=dict(DEFAULT_INPUT),
              architecture="linear (synthetic test model)", onnx_sha256=sha256_file(path),
              notes="random weights, for tests only").save(card_path_for(path))
    return path


# ---------------------------------------------------------------- media


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


def speech_like(seconds: float = 2.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A voiced, formant-like signal with syllable-rate amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.5 * t) ** 2
    signal = 0.25 * voiced * envelope + 0.01 * rng.normal(size=t.size)
    return (signal / np.abs(signal).max() * 0.6).astype(np.float32)


def wav_bytes(samples: np.ndarray, sr: int = 16000, fmt: str = "WAV") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- fake recognisers


@dataclass
class FakeCard:
    name: str
    task: str
    labels: list[str]
    input: dict = field(default_factory=dict)


class _Pred:
    def __init__(self, d: dict) -> None:
        self._d = d

    def to_dict(self) -> dict:
        return dict(self._d)


class FakeFace:
    """Pretends to find one face in any non-uniform image; can be slowed down or blocked."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None, fail: Exception | None = None):
        self.card = FakeCard("fake-face", "face", ["happy", "sad"], {"size": [48, 48]})
        self.delay, self.gate, self.fail = delay, gate, fail
        self.calls = 0
        self.entered = threading.Event()
        self.active = 0
        self.max_active = 0
        self.shapes: list[tuple[int, ...]] = []
        self._lock = threading.Lock()

    def predict(self, image: np.ndarray) -> list[_Pred]:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.shapes.append(tuple(image.shape))
        self.entered.set()
        try:
            if self.gate is not None:
                self.gate.wait(10)
            if self.delay:
                time.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            if float(np.std(image)) < 1.0:
                return []
            h, w = image.shape[:2]
            return [_Pred({"box": [w // 4, h // 4, w // 2, h // 2], "label": "happy", "score": 0.8,
                           "scores": {"happy": 0.8, "sad": 0.2}})]
        finally:
            with self._lock:
                self.active -= 1


class FakeVoice:
    """Returns one segment per second of audio; silent input gives an empty result with a reason."""

    def __init__(self) -> None:
        self.card = FakeCard("fake-voice", "voice", ["calm", "angry"], {"sample_rate": 16000})
        self.calls: list[tuple[int, int]] = []

    def predict(self, samples: np.ndarray, sample_rate: int | None = None) -> _Pred:
        self.calls.append((len(samples), int(sample_rate or 0)))
        seconds = len(samples) / float(sample_rate)
        if float(np.abs(samples).max()) < 1e-3:
            return _Pred({"path": None, "label": None, "score": None, "scores": {}, "segments": [],
                          "error": "no speech found (the recording is silent)"})
        segs = [{"start": float(s), "end": float(min(seconds, s + 1)), "label": "calm", "score": 0.6,
                 "scores": {"calm": 0.6, "angry": 0.4}} for s in range(int(np.ceil(seconds)))]
        return _Pred({"path": None, "label": "calm", "score": 0.6, "scores": {"calm": 0.6, "angry": 0.4},
                      "segments": segs, "error": None})


# ---------------------------------------------------------------- a live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_subprocess(args: list[str], env: dict[str, str] | None = None, ready_timeout: float = 60.0):
    """Run ``emorec serve`` on a free localhost port; yield its base URL; stop it afterwards."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "emorec.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    log = open(os.devnull, "wb") if os.environ.get("EMOREC_SERVE_TEST_QUIET") else None
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"emorec serve exited with code {proc.returncode}: {' '.join(cmd)}")
            try:
                r = httpx.get(url + "/readyz", timeout=2)
                if r.status_code == 200:
                    break
                if r.status_code == 503 and "failed" in r.text:
                    raise RuntimeError(f"emorec serve could not load its models: {r.text}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"emorec serve not ready after {ready_timeout} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not None:
            log.close()


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


VOICE_LABELS = ["neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"]


def make_voice_model(path: Path, labels: list[str] = VOICE_LABELS, seed: int = 0) -> Path:
    """A voice classifier over the mean of the card's feature frames: (1, T, D) -> logits, plus card."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import ModelCard, card_path_for, sha256_file
    from emorec.voice.features import FeatureConfig

    cfg = FeatureConfig()
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(0, 0.3, (cfg.dim, len(labels))).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, len(labels)).astype(np.float32), "B")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
        ],
        "serve_test_voice",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "T", cfg.dim])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(labels)])],
        initializer=[weight, bias, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    ModelCard(name="serve-test-voice", task="voice", labels=list(labels),
              input={"sample_rate": cfg.sample_rate, "features": cfg.to_dict(), "min_seconds": 0.5,
                     "max_seconds": 5.0},
              architecture="mean-pooled linear (synthetic test model)", onnx_sha256=sha256_file(path),
              notes="random weights, for tests only").save(card_path_for(path))
    return path
