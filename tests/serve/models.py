"""Which models a test server runs: the packaged ones when shipped, else synthetic test models."""
from __future__ import annotations

from pathlib import Path

from .helpers import make_face_model, make_voice_model


def packaged(task: str) -> Path | None:
    from emorec.paths import PACKAGE_MODELS

    path = PACKAGE_MODELS / f"{task}.onnx"
    return path if path.is_file() else None


def server_model_args(folder: Path) -> list[str]:
    """``emorec serve`` options: the shipped models if present, otherwise synthetic ones in ``folder``."""
    args: list[str] = []
    if packaged("face") is None:
        args += ["--face-model", str(make_face_model(folder / "face.onnx"))]
    if packaged("voice") is None:
        args += ["--voice-model", str(make_voice_model(folder / "voice.onnx"))]
    return args
