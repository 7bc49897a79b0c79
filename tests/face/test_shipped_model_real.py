"""The shipped face model on real data (needs ../shared/data): FER+ test floor, whole-pipeline ExpW development photos.

Floors are the measured values of the shipped model rounded down (see its card
and benchmarks/results/face_photos.json); a regression below them fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "src/emorec/models/face.onnx"
# Issue 10's targets were FER+ test >= 0.86 and FER2013 PrivateTest >= 0.71: both MISSED by the shipped
# model (card: metrics.ferplus_test 0.772, metrics.fer2013_test 0.645; benchmarks/face_photos.py 0.772 / 0.643);
# these floors are its measured values rounded down.
FERPLUS_FLOOR = 0.77
FER2013_FLOOR = 0.64

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _probs(x: np.ndarray) -> np.ndarray:
    """The packaged model's probabilities, its input normalised as its card says (never assumed here)."""
    from emorec.face.preprocess import normalise
    from emorec.runtime import OnnxModel

    model = OnnxModel.load(MODEL)
    x = normalise(x, model.card.input)
    return np.concatenate([model.run(x[i:i + 512]) for i in range(0, len(x), 512)])


def test_shipped_model_ferplus_test_accuracy(shared_data: Path) -> None:
    import cv2

    from emorec.datasets.ferplus import load_ferplus

    labels = json.loads(MODEL.with_suffix(".json").read_text())["labels"]
    test = [s for s in load_ferplus(shared_data / "ferplus").samples if s.split == "PrivateTest"]
    assert len(test) == 3375
    pred = _probs(np.stack([cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in test])).argmax(1)
    acc = float(np.mean([labels[p] == s.label for p, s in zip(pred, test)]))
    assert acc >= FERPLUS_FLOOR, f"FER+ test accuracy {acc:.4f} below the shipped floor {FERPLUS_FLOOR}"


def test_shipped_model_fer2013_private_test_accuracy(shared_data: Path) -> None:
    import cv2

    from emorec.datasets.fer2013 import load_fer_folder

    labels = json.loads(MODEL.with_suffix(".json").read_text())["labels"]
    test = [s for s in load_fer_folder(shared_data / "fer2013").samples if s.split == "PrivateTest"]
    pred = [labels[j] for j in _probs(np.stack([cv2.imread(s.path, cv2.IMREAD_GRAYSCALE) for s in test])).argmax(1)]
    acc = float(np.mean([p == s.label for p, s in zip(pred, test)]))
    assert acc >= FER2013_FLOOR, f"FER2013 PrivateTest accuracy {acc:.4f} below {FER2013_FLOOR}"


def test_whole_pipeline_expw_development_beats_fer_peer(shared_data: Path) -> None:
    """Detect + crop + classify with the packaged defaults; a missed labelled face counts as wrong."""
    from emorec.datasets.expw import faces_by_photo, load_expw_photos
    from emorec.face.recognizer import FaceEmotionRecognizer
    from emorec.training.face.crops import match_all

    rec = FaceEmotionRecognizer(threads=1)
    photos = faces_by_photo(load_expw_photos(shared_data / "expw"))
    right = total = 0
    for path, faces in photos.items():
        preds = rec.predict(path)
        boxes = [p.box for p in preds]
        for face, j in zip(faces, match_all(boxes, [f.box for f in faces])):
            total += 1
            right += int(j is not None and preds[j].label == face.label)
    acc = right / total
    # The fer peer's whole-pipeline accuracy on the same photos, measured by benchmarks/face_photos.py.
    figures = json.loads((REPO / "benchmarks/results/face_photos.json").read_text())["figures"]
    peer = next(r for r in figures["peer_rows"] if r["dataset"] == "ExpW development photos")["accuracy"]["value"]
    # Measured 0.415 by face_photos.py (boxes squared before matching; issue 10's target 0.45 is missed);
    # this plain matching gives 0.403 (424 of 1052), floor rounded down.
    assert acc >= 0.40, f"whole-pipeline ExpW development accuracy {acc:.4f} below the shipped floor 0.40"
    assert acc > peer + 0.15, f"emorec {acc:.4f} is not well above the fer peer's {peer:.4f} (face_photos.json)"
