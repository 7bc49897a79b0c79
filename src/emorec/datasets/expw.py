"""ExpW (Expression in-the-Wild), as packed in ../shared/data/expw.

Two parts from disjoint photos (see its SOURCE.md):

- ``crops.csv`` + ``crops/``: 128x128 face crops, each with the labelled box
  inside it (``x, y, w, h``); the training part. Re-frame them from the box
  (or from a detector run over the crop) with :mod:`emorec.face.crop`.
- ``photos.csv`` + ``photos/``: whole photos with one row per labelled face;
  the real-photo development set for the whole pipeline. Never train on it.

Labels are ExpW's seven classes, already canonical names; an explicit map
keeps that a checked fact rather than an assumption. No torch.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from emorec.datasets.faces import FaceDataset, FaceSample, require_dir
from emorec.errors import DatasetError

EXPW_LABELS: dict[str, str] = {
    "angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
    "sad": "sad", "surprise": "surprise", "neutral": "neutral",
}
# ExpW's original integer codes (label.lst), for users with the full corpus.
EXPW_CODES: dict[int, str] = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}


@dataclass
class BoxedFaceSample(FaceSample):
    """A labelled face with its box (x, y, w, h) in the image at ``path``."""

    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    face_id: int = 0
    photo: str = ""  # the source photo's name (subject-free search keyword + number)
    confidence: float = 0.0


def parse_box(row: dict[str, str], where: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) from a CSV row; a missing or non-positive size raises DatasetError.

    >>> parse_box({"x": "32", "y": "32", "w": "64", "h": "64"}, "row")
    (32, 32, 64, 64)
    """
    try:
        x, y, w, h = (int(round(float(row[k]))) for k in ("x", "y", "w", "h"))
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{where}: box needs numeric x, y, w, h") from None
    if w <= 0 or h <= 0:
        raise DatasetError(f"{where}: box has no area (w={w}, h={h})")
    return x, y, w, h


def _read(csv_path: Path, name: str, split: str) -> FaceDataset:
    if not csv_path.is_file():
        raise DatasetError(f"ExpW file {csv_path} not found: check --data / EMOREC_DATA")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{csv_path.name}:{line}"
            label = EXPW_LABELS.get((row.get("label") or "").strip().lower())
            if label is None:
                skipped.append(f"{where}: unknown ExpW label {row.get('label')!r}")
                continue
            try:
                box = parse_box(row, where)
            except DatasetError as exc:
                skipped.append(str(exc))
                continue
            file = (row.get("file") or "").strip()
            photo = (row.get("photo") or Path(file).name).strip()
            samples.append(BoxedFaceSample(
                label=label, path=str(csv_path.parent / file), split=split, subject=None,
                box=box, face_id=int(float(row.get("face_id") or 0)), photo=photo,
                confidence=float(row.get("confidence") or 0.0)))
    if not samples:
        raise DatasetError(f"{csv_path} holds no usable rows ({len(skipped)} skipped)")
    return FaceDataset(name, samples, skipped=skipped)


def load_expw_crops(root: str | Path) -> FaceDataset:
    """The ExpW training crops (``crops.csv``): one sample per face, box inside the crop."""
    return _read(require_dir(root, "ExpW") / "crops.csv", "expw", "Training")


def load_expw_photos(root: str | Path) -> FaceDataset:
    """The ExpW development photos (``photos.csv``): one sample per labelled face. Never train on these."""
    return _read(require_dir(root, "ExpW") / "photos.csv", "expw-photos", "Development")


def faces_by_photo(dataset: FaceDataset) -> dict[str, list[BoxedFaceSample]]:
    """Labelled faces grouped by image path (a photo may hold several)."""
    groups: dict[str, list[BoxedFaceSample]] = defaultdict(list)
    for s in dataset.samples:
        groups[s.path].append(s)  # type: ignore[arg-type]
    return dict(groups)
