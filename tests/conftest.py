"""Fixtures shared by every test folder; models and media come from :mod:`emorec.testing`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (EMOREC_DATA, else ../shared/data); tests needing them skip without."""
    root = Path(os.environ.get("EMOREC_DATA", _DEFAULT_DATA))
    if not root.is_dir():
        pytest.skip("real data not present: set EMOREC_DATA to ../shared/data")
    return root


@pytest.fixture
def data_root() -> Path:
    root = os.environ.get("EMOREC_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("EMOREC_DATA not set: real-data test")
    return Path(root)


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    """A tiny voice model (max-pooled linear over log-mel frames) with its card."""
    from emorec.testing import make_voice_model

    return make_voice_model(tmp_path / "models" / "tiny.onnx")


@pytest.fixture(scope="session")
def face_model(tmp_path_factory) -> Path:
    from emorec.testing import make_face_model

    return make_face_model(tmp_path_factory.mktemp("model") / "tiny_face.onnx")


@pytest.fixture(scope="session")
def recognizer(face_model):
    from emorec.face.recognizer import FaceEmotionRecognizer

    return FaceEmotionRecognizer(model=face_model, threads=1)


@pytest.fixture(scope="session")
def example_photo() -> Path:
    from emorec.testing import EXAMPLE_PHOTO

    assert EXAMPLE_PHOTO.is_file(), "examples/astronaut.jpg missing: run python examples/make_examples.py"
    return EXAMPLE_PHOTO


@pytest.fixture(scope="session")
def example_video() -> Path:
    from emorec.testing import EXAMPLE_VIDEO

    assert EXAMPLE_VIDEO.is_file(), "examples/astronaut_pan.mp4 missing: run python examples/make_examples.py"
    return EXAMPLE_VIDEO
