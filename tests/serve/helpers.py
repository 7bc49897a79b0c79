"""Serve-test helpers: fake recognisers and a live server; models and media come from emorec.testing.

Nothing here downloads anything; media are synthesised with numpy/cv2/soundfile.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emorec import testing as _testing
from emorec.testing import (  # noqa: F401  (re-exported for the serve tests)
    EXAMPLE_PHOTO,
    FER_LABELS,
    free_port,
    jpeg_bytes,
    photo_with_face,
    png_bomb,
    png_bytes,
    wav_bytes,
    write_y4m,
)
from emorec.testing import RAVDESS_LABELS as VOICE_LABELS

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- models and media (emorec.testing)


def make_face_model(path: Path, labels: list[str] = FER_LABELS, seed: int = 0) -> Path:
    """A linear face classifier over 48x48 crops, input (N,1,48,48) -> logits (N,7), plus its card."""
    return _testing.make_face_model(path, labels, seed=seed, name="serve-test-face")


def make_voice_model(path: Path, labels: list[str] = VOICE_LABELS, seed: int = 0) -> Path:
    """A voice classifier over the mean of the card's feature frames: (1, T, D) -> logits, plus card."""
    return _testing.make_voice_model(path, labels, seed, probabilities=False, pooling="mean", input_name="input",
                                     name="serve-test-voice", weight_std=0.3, bias_std=0.1)


speech_like = _testing.steady_speech  # never falls silent: one segment per second in FakeVoice terms


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
