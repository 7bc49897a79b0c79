"""Fixtures for the face inference tests (models come from synthetic.py, media from examples/)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .synthetic import EXAMPLE_PHOTO, EXAMPLE_VIDEO, make_face_model


@pytest.fixture(scope="session")
def face_model(tmp_path_factory) -> Path:
    return make_face_model(tmp_path_factory.mktemp("model") / "tiny_face.onnx")


@pytest.fixture(scope="session")
def recognizer(face_model):
    from emorec.face.recognizer import FaceEmotionRecognizer

    return FaceEmotionRecognizer(model=face_model, threads=1)


@pytest.fixture(scope="session")
def example_photo() -> Path:
    assert EXAMPLE_PHOTO.is_file(), "examples/astronaut.jpg missing: run python examples/make_examples.py"
    return EXAMPLE_PHOTO


@pytest.fixture(scope="session")
def example_video() -> Path:
    assert EXAMPLE_VIDEO.is_file(), "examples/astronaut_pan.mp4 missing: run python examples/make_examples.py"
    return EXAMPLE_VIDEO
