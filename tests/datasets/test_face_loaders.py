"""Face dataset loaders on small synthetic files that use the real names and layouts."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emorec.datasets.ckplus import load_ckextended_csv, load_ckplus48
from emorec.datasets.fer2013 import load_fer2013, load_fer_csv, load_fer_folder
from emorec.datasets.folder import load_image_folder
from emorec.errors import DatasetError


def _pixels(seed: int) -> str:
    return " ".join(str(v) for v in np.random.default_rng(seed).integers(0, 256, 48 * 48))


def _write_png(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8))


def test_ckextended_csv_maps_all_eight_codes_and_usages(tmp_path: Path) -> None:
    rows = ["emotion,pixels,Usage"]
    usages = ["Training", "PublicTest", "PrivateTest"]
    for code in range(8):
        rows.append(f"{code},{_pixels(code)},{usages[code % 3]}")
    csv = tmp_path / "ckextended.csv"
    csv.write_text("\n".join(rows) + "\n")
    ds = load_ckextended_csv(csv)
    assert [s.label for s in ds.samples] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"
    ]
    assert ds.samples[7].split == "PublicTest"
    assert "contempt" in ds.labels and "neutral" in ds.labels
    images = ds.images(progress=False)
    assert images.shape == (8, 48, 48) and images.dtype == np.uint8
    assert images[0].tolist() == np.array(_pixels(0).split(), dtype=np.uint8).reshape(48, 48).tolist()


def test_fer_csv_skips_malformed_rows_with_reasons(tmp_path: Path) -> None:
    csv = tmp_path / "fer2013.csv"
    csv.write_text(
        "emotion,pixels,Usage\n"
        f"3,{_pixels(1)},Training\n"
        "9,1 2 3,Training\n"  # unknown code
        "2,1 2 3,Training\n"  # wrong pixel count
        f"4,{_pixels(2).replace('1', 'x', 1)},Training\n"  # not numbers
        f"6,{_pixels(3)},PrivateTest\n"
    )
    ds = load_fer_csv(csv)
    assert len(ds) == 2
    assert len(ds.skipped) == 3
    assert all("fer2013.csv:" in reason for reason in ds.skipped)


def test_fer_csv_with_wrong_columns_is_a_clear_error(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="FER2013-style CSV"):
        load_fer_csv(csv)


def test_fer_folder_export_keeps_official_split(tmp_path: Path) -> None:
    _write_png(tmp_path / "train" / "happy" / "Training_123.jpg")
    _write_png(tmp_path / "test" / "sad" / "PublicTest_5.jpg")
    _write_png(tmp_path / "test" / "angry" / "PrivateTest_9.jpg")
    (tmp_path / "test" / "angry" / "notes.txt").write_text("ignored")
    ds = load_fer_folder(tmp_path)
    assert sorted((s.label, s.split) for s in ds.samples) == [
        ("angry", "PrivateTest"), ("happy", "Training"), ("sad", "PublicTest")
    ]
    assert load_fer2013(tmp_path).labels == ds.labels


def test_ckplus48_parses_subjects(tmp_path: Path) -> None:
    _write_png(tmp_path / "happy" / "S010_006_00000013.png")
    _write_png(tmp_path / "contempt" / "S138_008_00000009.png")
    _write_png(tmp_path / "surprise" / "bad_name.png")
    ds = load_ckplus48(tmp_path)
    assert sorted((s.label, s.subject) for s in ds.samples) == [("contempt", "S138"), ("happy", "S010")]
    assert len(ds.skipped) == 1 and "bad_name.png" in ds.skipped[0]


def test_generic_folder_skips_unknown_classes(tmp_path: Path) -> None:
    _write_png(tmp_path / "Happiness" / "a" / "1.png")
    _write_png(tmp_path / "sadness" / "2.jpg")
    _write_png(tmp_path / "cats" / "3.jpg")
    ds = load_image_folder(tmp_path)
    assert sorted(s.label for s in ds.samples) == ["happy", "sad"]
    assert ds.skipped and "cats" in ds.skipped[0]


def test_missing_dataset_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_ckplus48(tmp_path / "nope")
    assert "\n" not in str(info.value) and "not found" in str(info.value)


@pytest.mark.data
def test_real_ckplus48_counts(shared_data: Path) -> None:
    ds = load_ckplus48(shared_data / "ckplus48")
    assert len(ds) == 981
    assert len(set(ds.subjects)) == 118
    assert ds.counts()["surprise"] == 249


@pytest.mark.data
def test_real_fer2013_official_splits(shared_data: Path) -> None:
    ds = load_fer2013(shared_data / "fer2013")
    splits = ds.splits
    assert (splits == "Training").sum() == 28709
    assert (splits == "PublicTest").sum() == 3589
    assert (splits == "PrivateTest").sum() == 3589
