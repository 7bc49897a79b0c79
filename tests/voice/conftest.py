from __future__ import annotations

import os
from pathlib import Path

import pytest

from .synth import make_voice_model


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return make_voice_model(tmp_path / "models" / "tiny.onnx")


@pytest.fixture
def data_root() -> Path:
    root = os.environ.get("EMOREC_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("EMOREC_DATA not set: real-data test")
    return Path(root)
