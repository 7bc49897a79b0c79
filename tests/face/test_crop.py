"""The one crop definition: geometry, alignment, card round trip, and training prep == inference."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from emorec.errors import ModelError
from emorec.face.crop import CropSpec, crop_detection, crop_window, eye_angle, make_crop


def _scene(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def test_plain_square_crop_equals_slice_then_area_resize() -> None:
    img = _scene()
    spec = CropSpec(size=(48, 48), channels=1, margin=0.0, square=True, align=False)
    crop = make_crop(img, (40, 30, 96, 96), None, spec)
    gray = cv2.cvtColor(cv2.resize(img[30:126, 40:136], (48, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert np.abs(crop.astype(int) - gray.astype(int)).max() <= 1


def test_margin_square_and_offset_move_the_window() -> None:
    spec = CropSpec(margin=0.25, square=True, offset_y=0.1)
    cx, cy, w, h = crop_window((10, 20, 40, 60), spec)
    assert (w, h) == (90.0, 90.0)  # longer side 60, 1.5x
    assert cx == pytest.approx(10 + 39 / 2) and cy == pytest.approx(20 + 59 / 2 + 6)
    assert crop_window((10, 20, 40, 60), CropSpec(square=False))[2:] == (40.0, 60.0)
    colour = make_crop(_scene(), (10, 20, 40, 60), None, CropSpec(size=(64, 64), channels=3))
    assert colour.shape == (64, 64, 3)


def test_alignment_levels_a_tilted_eye_line() -> None:
    # Two bright "eyes" on a dark face, the line between them tilted by 20 degrees.
    img = np.zeros((200, 200), np.uint8)
    c, r, a = np.array([100.0, 100.0]), 30.0, math.radians(20)
    right = c - r * np.array([math.cos(a), math.sin(a)])
    left = c + r * np.array([math.cos(a), math.sin(a)])
    for p in (right, left):
        cv2.circle(img, (int(round(p[0])), int(round(p[1]))), 6, 255, -1)
    landmarks = (tuple(right), tuple(left), (100.0, 120.0), (90.0, 140.0), (110.0, 140.0))
    assert eye_angle(landmarks) == pytest.approx(20.0, abs=0.01)
    spec = CropSpec(size=(96, 96), margin=0.0, align=True, interpolation="linear")
    crop = make_crop(img, (40, 40, 120, 120), landmarks, spec)
    ys, xs = np.nonzero(crop > 128)
    left_half, right_half = ys[xs < 48], ys[xs >= 48]
    assert abs(left_half.mean() - right_half.mean()) < 1.5  # eyes level after alignment
    unaligned = make_crop(img, (40, 40, 120, 120), landmarks, CropSpec(size=(96, 96), align=False))
    ys, xs = np.nonzero(unaligned > 128)
    assert abs(ys[xs < 48].mean() - ys[xs >= 48].mean()) > 10


def test_crop_spec_card_round_trip(tmp_path: Path) -> None:
    from emorec.cards import ModelCard

    spec = CropSpec(size=(64, 64), channels=3, margin=0.1, square=True, offset_y=0.05, align=True,
                    interpolation="area", border="constant")
    card = ModelCard(name="t", task="face", labels=["happy", "sad"],
                     input={"size": [64, 64], "channels": 3, "crop": spec.to_dict()})
    path = card.save(tmp_path / "m.json")
    back = ModelCard.load(path)
    assert CropSpec.from_card_input(back.input) == spec
    assert json.loads(path.read_text())["input"]["crop"]["margin"] == 0.1
    # cards from before crop specs: today's margin crop, not squared, not aligned
    legacy = CropSpec.from_card_input({"size": [48, 48], "channels": 1, "margin": 0.15})
    assert (legacy.margin, legacy.square, legacy.align) == (0.15, False, False)
    with pytest.raises(ModelError):
        CropSpec.from_dict({"size": [48, 48], "zoom": 2})
    with pytest.raises(ModelError):
        CropSpec(channels=2)


class _FixedDetector:
    """Always the same detection: the training-prep path and the recogniser see the same box."""

    name = "fixed"

    def __init__(self, det) -> None:
        self.det = det

    def detect(self, image):
        return [self.det]


def test_same_box_gives_same_pixels_in_training_prep_and_inference(tmp_path: Path) -> None:
    from emorec.face.detectors.base import Detection
    from emorec.training.face.crops import detect_and_crop
    from emorec.testing import make_face_model

    img = cv2.cvtColor(_scene(seed=3), cv2.COLOR_BGR2GRAY)
    det = Detection(box=(60, 40, 100, 120), score=0.9, landmarks=None)
    spec = CropSpec(size=(48, 48), channels=1, margin=0.05, square=True, align=True)
    prep = detect_and_crop(img, (62, 44, 96, 112), _FixedDetector(det), spec)
    assert prep.source == "detector"
    infer = crop_detection(img, det, spec)
    assert np.array_equal(prep.crop, infer)

    model = make_face_model(tmp_path / "face.onnx", input_spec={"crop": spec.to_dict()})
    from emorec.face.recognizer import FaceEmotionRecognizer

    rec = FaceEmotionRecognizer(model, detector=_FixedDetector(det))
    assert rec.crop_spec == spec
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), img)
    found = rec.find_faces(str(path))
    assert np.array_equal(found.crops[0], prep.crop)
