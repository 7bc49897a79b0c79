"""Face detector: the shipped Haar cascade, downscaled detection, ordering, registry."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import emorec
from emorec.errors import InputError, ModelError
from emorec.face import detect
from emorec.face.detect import CASCADE_PATH, HaarDetector, available_detectors, get_detector, register_detector

# The astronaut's face in examples/astronaut.jpg (512x512), as found at full resolution.
ASTRONAUT_FACE = (177, 66, 95, 95)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def gray_of(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_cascade_ships_inside_the_package_with_its_licence():
    package_dir = Path(emorec.__file__).resolve().parent
    assert CASCADE_PATH.is_file()
    assert package_dir in CASCADE_PATH.parents
    licence = CASCADE_PATH.parent / "LICENSE-haarcascade.txt"
    assert "Intel License Agreement" in licence.read_text()
    assert HaarDetector().cascade_path == CASCADE_PATH


def test_detector_does_not_read_cascades_from_cv2_data(monkeypatch, example_photo):
    # OpenCV 5 wheels have no cv2.data; the detector must not need it.
    monkeypatch.delattr(cv2, "data", raising=False)
    boxes = HaarDetector().detect(gray_of(example_photo))
    assert len(boxes) == 1


def test_finds_the_face_in_the_example_photo(example_photo):
    boxes = HaarDetector().detect(gray_of(example_photo))
    assert len(boxes) == 1
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.7
    assert all(isinstance(v, int) for v in boxes[0])


def test_full_resolution_and_downscaled_detection_agree(example_photo):
    gray = gray_of(example_photo)
    full = HaarDetector(max_side=None).detect(gray)
    small = HaarDetector(max_side=200).detect(gray)
    assert len(full) == len(small) == 1
    assert iou(full[0], small[0]) > 0.7


def test_boxes_are_mapped_back_to_the_original_size(example_photo):
    big = cv2.resize(gray_of(example_photo), (2048, 2048), interpolation=cv2.INTER_LINEAR)
    boxes = HaarDetector().detect(big)
    assert len(boxes) == 1
    expected = tuple(v * 4 for v in ASTRONAUT_FACE)
    assert iou(boxes[0], expected) > 0.6
    x, y, w, h = boxes[0]
    assert 0 <= x and 0 <= y and x + w <= 2048 and y + h <= 2048


def test_two_faces_are_sorted_left_to_right(example_photo):
    head = gray_of(example_photo)[0:300, 100:350]
    pair = np.hstack([head, cv2.flip(head, 1)])  # the same face and its mirror image
    boxes = HaarDetector().detect(pair)
    assert len(boxes) == 2
    assert boxes[0][0] < boxes[1][0]
    assert boxes[0][0] + boxes[0][2] <= 250 + 5  # first face in the left half


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (240, 320), dtype=np.uint8),
        np.zeros((10, 10), np.uint8),  # smaller than the cascade window
    ],
    ids=["uniform", "noise", "tiny"],
)
def test_no_face_gives_an_empty_list(image):
    assert HaarDetector().detect(image) == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32), [[0, 1], [2, 3]]],
    ids=["color", "float", "list"],
)
def test_detector_wants_2d_uint8(bad):
    with pytest.raises(InputError, match="2-D uint8"):
        HaarDetector().detect(bad)


def test_missing_or_broken_cascade_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        HaarDetector(tmp_path / "nope.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(ModelError, match="could not load"):
        HaarDetector(broken)


def test_registry_by_name_and_custom_detectors(monkeypatch):
    monkeypatch.setattr(detect, "_REGISTRY", dict(detect._REGISTRY))
    assert "haar" in available_detectors()
    assert isinstance(get_detector("haar", max_side=256), HaarDetector)
    assert get_detector("haar", max_side=256).max_side == 256
    with pytest.raises(InputError, match="unknown face detector 'nope'.*haar"):
        get_detector("nope")

    class Centre:
        name = "centre"

        def __init__(self, size: int = 20):
            self.size = size

        def detect(self, gray):
            h, w = gray.shape
            return [(w // 2 - self.size // 2, h // 2 - self.size // 2, self.size, self.size)]

    register_detector("centre", Centre)
    assert "centre" in available_detectors()
    found = get_detector("centre", size=10).detect(np.zeros((100, 100), np.uint8))
    assert found == [(45, 45, 10, 10)]
    instance = Centre()
    assert get_detector(instance) is instance
    with pytest.raises(TypeError):
        get_detector(object())


def test_max_side_must_leave_room_for_a_face():
    with pytest.raises(ValueError):
        HaarDetector(max_side=20)
