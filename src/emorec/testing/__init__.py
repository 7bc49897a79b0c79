"""Test helpers that tests, benchmarks and plug-in authors share (no torch, nothing downloaded).

- :mod:`emorec.testing.models`: tiny ONNX face and voice models with their cards.
- :mod:`emorec.testing.media`: synthetic speech, images, videos and upload bytes.
- :func:`free_port`: a free localhost TCP port for a test server.

Example:
    >>> from emorec.testing import make_face_model, speech_like  # doctest: +SKIP
    >>> model = make_face_model(tmp_path / "face.onnx")  # doctest: +SKIP
"""
from __future__ import annotations

import socket

from emorec.testing.media import (
    EXAMPLE_PHOTO,
    EXAMPLE_VIDEO,
    EXAMPLES,
    jpeg_bytes,
    make_ravdess_folder,
    photo_with_face,
    png_bomb,
    png_bytes,
    speech_like,
    steady_speech,
    wav_bytes,
    with_pauses,
    write_audio,
    write_y4m,
)
from emorec.testing.models import FER_LABELS, RAVDESS_LABELS, make_face_model, make_voice_model


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


__all__ = [
    "EXAMPLES", "EXAMPLE_PHOTO", "EXAMPLE_VIDEO", "FER_LABELS", "RAVDESS_LABELS", "free_port", "jpeg_bytes",
    "make_face_model", "make_ravdess_folder", "make_voice_model", "photo_with_face", "png_bomb", "png_bytes",
    "speech_like", "steady_speech", "wav_bytes", "with_pauses", "write_audio", "write_y4m",
]
