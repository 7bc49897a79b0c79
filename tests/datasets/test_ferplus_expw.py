"""FER+ vote parsing and the join onto FER2013 files; ExpW box parsing (synthetic files, real layouts)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emorec.datasets.expw import load_expw_crops, load_expw_photos, faces_by_photo, parse_box
from emorec.datasets.ferplus import (
    FERPLUS_EMOTIONS,
    VOTE_CLASSES,
    load_ferplus,
    majority_label,
    vote_distribution,
)
from emorec.errors import DatasetError

HEADER = ("jpg,usage,ferplus_rows,ferplus_names,match," + ",".join(f"votes_{c}" for c in VOTE_CLASSES)
          + ",rmse,rmse_second")


def _img(path: Path, value: int = 0, side: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((side, side, 3) if side > 48 else (side, side), value, np.uint8))


def _votes_row(jpg: str, usage: str, votes: list[int], match: str = "exact") -> str:
    return f"{jpg},{usage},1,fer0000001.png,{match}," + ",".join(map(str, votes)) + ",1.7,40.0"


def test_majority_rule_drops_unknown_nf_and_ties() -> None:
    assert majority_label([0, 8, 1, 0, 0, 0, 0, 0, 1, 0]) == "happy"
    assert majority_label([0, 0, 0, 0, 0, 0, 0, 6, 4, 0]) == "contempt"
    assert majority_label([1, 0, 0, 0, 0, 0, 0, 0, 9, 0]) is None  # plurality "unknown"
    assert majority_label([0, 0, 0, 0, 0, 0, 0, 0, 0, 10]) is None  # not a face
    assert majority_label([5, 0, 5, 0, 0, 0, 0, 0, 0, 0]) is None  # tie
    assert majority_label([0] * 10) is None
    with pytest.raises(ValueError):
        majority_label([1, 2, 3])


def test_vote_distribution_is_over_the_eight_emotions_in_vocabulary_order() -> None:
    # votes: neutral 2, happiness 0, surprise 1, sadness 3, anger 0, disgust 0, fear 0, contempt 2, unknown 2
    dist = vote_distribution([2, 0, 1, 3, 0, 0, 0, 2, 2, 0])
    assert FERPLUS_EMOTIONS == ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")
    assert dist.tolist() == pytest.approx([0.25, 0.0, 0.375, 0.0, 0.0, 0.0, 0.125, 0.25])
    assert vote_distribution([0] * 8 + [5, 5]).sum() == 0


def test_votes_join_onto_fer2013_files(tmp_path: Path) -> None:
    fer = tmp_path / "fer2013"
    _img(fer / "train/angry/Training_1.jpg")
    _img(fer / "train/happy/Training_2.jpg")
    _img(fer / "test/sad/PrivateTest_3.jpg")
    _img(fer / "test/neutral/PublicTest_4.jpg")
    _img(fer / "test/fear/PrivateTest_5.jpg")
    plus = tmp_path / "ferplus"
    plus.mkdir()
    rows = [HEADER,
            _votes_row("train/angry/Training_1.jpg", "Training", [2, 0, 0, 1, 7, 0, 0, 0, 0, 0]),
            _votes_row("train/happy/Training_2.jpg", "Training", [4, 4, 0, 0, 0, 0, 0, 0, 2, 0]),  # tie
            _votes_row("test/sad/PrivateTest_3.jpg", "PrivateTest", [6, 0, 0, 4, 0, 0, 0, 0, 0, 0]),
            _votes_row("test/neutral/PublicTest_4.jpg", "PublicTest", [0, 0, 0, 0, 0, 0, 0, 7, 3, 0]),
            "test/fear/PrivateTest_5.jpg,PrivateTest,,,unmatched," + "," * 11]
    (plus / "fer2013-votes.csv").write_text("\n".join(rows) + "\n")

    ds = load_ferplus(plus)  # finds ../fer2013 beside the ferplus folder
    assert ds.labels == list(FERPLUS_EMOTIONS)
    by_name = {Path(s.path).name: s for s in ds.samples}
    assert set(by_name) == {"Training_1.jpg", "PrivateTest_3.jpg", "PublicTest_4.jpg"}
    assert by_name["Training_1.jpg"].label == "angry" and by_name["Training_1.jpg"].split == "Training"
    # FER+ relabels: the sad folder image is neutral by its votes, the original label is kept beside it
    assert by_name["PrivateTest_3.jpg"].label == "neutral"
    assert by_name["PrivateTest_3.jpg"].fer2013_label == "sad"
    assert by_name["PublicTest_4.jpg"].label == "contempt"
    assert Path(by_name["Training_1.jpg"].path).is_file()
    assert any("no clear FER+ majority" in r for r in ds.skipped)
    # distribution mode keeps the tied image (label from its folder)
    everything = load_ferplus(plus, target="all")
    assert {Path(s.path).name for s in everything.samples} == set(by_name) | {"Training_2.jpg"}


def test_ferplus_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_ferplus(tmp_path / "nowhere", fer2013_root=tmp_path)
    (tmp_path / "fer2013-votes.csv").write_text("jpg,usage\nx.jpg,Training\n")
    with pytest.raises(DatasetError, match="lacks columns"):
        load_ferplus(tmp_path, fer2013_root=tmp_path)


def test_expw_box_parsing(tmp_path: Path) -> None:
    assert parse_box({"x": "10", "y": "20.4", "w": "30", "h": "31.6"}, "r") == (10, 20, 30, 32)
    for bad in ({"x": "1", "y": "1", "w": "0", "h": "5"}, {"x": "a", "y": "1", "w": "2", "h": "2"}, {"x": "1"}):
        with pytest.raises(DatasetError):
            parse_box(bad, "crops.csv:2")
    root = tmp_path / "expw"
    _img(root / "crops/angry_man_1_f0.jpg", side=128)
    _img(root / "photos/happy_kid_2.jpg", side=200)
    (root / "crops.csv").write_text(
        "file,photo,face_id,x,y,w,h,confidence,label\n"
        "crops/angry_man_1_f0.jpg,angry_man_1.jpg,0,32,32,64,64,58.2,angry\n"
        "crops/bad.jpg,bad.jpg,0,32,32,0,64,58.2,angry\n"
        "crops/odd.jpg,odd.jpg,0,32,32,64,64,58.2,bored\n")
    (root / "photos.csv").write_text(
        "file,face_id,x,y,w,h,confidence,label\n"
        "photos/happy_kid_2.jpg,0,10,20,50,50,80.0,happy\n"
        "photos/happy_kid_2.jpg,1,100,30,40,40,70.0,surprise\n")
    crops = load_expw_crops(root)
    assert len(crops) == 1 and crops.samples[0].box == (32, 32, 64, 64)
    assert crops.samples[0].label == "angry" and crops.samples[0].split == "Training"
    assert crops.samples[0].photo == "angry_man_1.jpg"
    assert len(crops.skipped) == 2 and any("bored" in r for r in crops.skipped)
    photos = load_expw_photos(root)
    assert [s.box for s in photos.samples] == [(10, 20, 50, 50), (100, 30, 40, 40)]
    assert photos.samples[0].split == "Development"
    groups = faces_by_photo(photos)
    assert list(groups) == [str(root / "photos/happy_kid_2.jpg")] and len(groups[str(root / "photos/happy_kid_2.jpg")]) == 2


@pytest.mark.data
def test_real_ferplus_and_expw_counts(shared_data: Path) -> None:
    ds = load_ferplus(shared_data / "ferplus")
    test = [s for s in ds.samples if s.split == "PrivateTest"]
    # FER+ SOURCE.md plurality counts for PrivateTest, unknown / NF / ties dropped
    assert len(test) == 1165 + 909 + 421 + 424 + 316 + 22 + 92 + 26
    assert sum(s.label == "contempt" for s in test) == 26
    assert all(Path(s.path).is_file() for s in test[:50])
    crops, photos = load_expw_crops(shared_data / "expw"), load_expw_photos(shared_data / "expw")
    assert (len(crops), len(photos)) == (4653, 1052)
    assert {Path(s.path).name for s in crops.samples}.isdisjoint({Path(s.path).name for s in photos.samples})
