"""benchmarks/face_photos.py: scoring (a missed face counts as wrong), the fer pipeline re-run, label space."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import face_photos as fp

REPO = Path(__file__).resolve().parents[2]
PEER_FER = REPO / "benchmarks" / ".peer-venv" / "lib"


def test_missed_faces_count_as_wrong_and_recall_is_reported():
    true = ["happy", "sad", "angry", "happy"]
    pred = ["happy", None, "angry", "sad"]  # one face missed by the detector, one wrong
    labels = fp.label_space(true, ["happy", "sad", "angry", "contempt"])
    assert labels[-1] == fp.NO_FACE and "contempt" in labels
    row = fp.expw_rows(pred, true, ["p1", "p1", "p2", "p3"], labels, 3, "emorec")
    assert row["detection_recall"] == 0.75 and row["faces_matched"] == 3
    assert row["accuracy"]["value"] == 0.5  # 2 of 4, the missed one is wrong
    assert row["matched_only"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert row["per_class_recall"]["sad"] == 0.0 and fp.NO_FACE not in row["per_class_recall"]
    cm = np.asarray(row["confusion_matrix"])
    assert cm[labels.index("sad"), labels.index(fp.NO_FACE)] == 1


def test_fer_pipeline_follows_fers_steps_on_a_real_face():
    photo = cv2.imread(str(REPO / "examples" / "astronaut.jpg"))
    pipe = fp.FerPipeline({}, (64, 64))  # fer's defaults: 1.1 / 5 / 50 px, offsets 10, padding 40
    boxes, crops = pipe.faces(photo)
    assert len(boxes) == 1 and crops.shape == (1, 64, 64, 1)
    assert -1.0 <= crops.min() and crops.max() <= 1.0
    # The crop is the squared box grown by 10 px per side, from the padded gray photo.
    x, y, w, h = boxes[0]
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    side = max(w, h)
    expected = cv2.resize(gray[y - 10 : y + side + 10, x - 10 : x + side + 10], (64, 64))
    np.testing.assert_allclose(crops[0, :, :, 0], (expected / 255.0 - 0.5) * 2.0, atol=1e-6)


@pytest.mark.peer
def test_fer_source_constants_are_read_from_the_peer_venv():
    found = sorted(PEER_FER.glob("python*/site-packages/fer/fer.py")) if PEER_FER.is_dir() else []
    assert found, "benchmarks/.peer-venv has no fer package: run python benchmarks/fer_peer.py first"
    facts = fp.fer_pipeline_facts(str(found[0].parent))
    for key, value in fp.FER_EXPECTED.items():
        assert facts[key] == value, key
    assert facts["squares_box"] and facts["pads_with_bottom_mean"]


def test_crop_rows_add_a_row_over_the_classes_both_systems_predict():
    names = ["happy", "contempt", "sad", "happy"]
    preds = ["happy", "happy", "sad", "sad"]
    labels = fp.label_space(names, ["happy", "sad"])
    full, shared = fp.crop_rows("emorec", names, preds, labels, None, "CK+48", "unseen", {"happy", "sad"})
    assert full["n"] == 4 and full["accuracy"]["value"] == 0.5
    assert shared["n"] == 3 and shared["accuracy"]["value"] == pytest.approx(2 / 3)
    assert shared["restricted_to"] == ["happy", "sad"] and "without contempt" in shared["protocol"]
    assert len(fp.crop_rows("emorec", ["happy"], ["happy"], labels, None, "x", "y", {"happy", "sad"})) == 1
