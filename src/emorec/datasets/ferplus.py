"""FER+: Microsoft's 10-annotator votes for FER2013, joined onto the FER2013 image files.

``fer2013-votes.csv`` (../shared/data/ferplus) has one row per FER2013 JPEG
(``jpg`` = path under the fer2013 folder) with ``votes_<class>`` columns over
neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
unknown and NF (not a face). Two targets come from the votes:

- majority: the plurality class; images whose plurality is unknown / NF, or
  tied between classes, or that have no votes, are dropped (FER+ "majority"
  protocol; the FER+ test set is PrivateTest under this rule);
- distribution: the votes over the 8 emotion classes, normalised to sum to 1
  (unknown / NF votes left out), for training on the label distribution.

Contempt is kept as an 8th class. No torch.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emorec.datasets.faces import FaceDataset, FaceSample
from emorec.errors import DatasetError

VOTES_FILE = "fer2013-votes.csv"
# FER+ vote columns, in file order, and their canonical names (None: not an emotion).
VOTE_CLASSES: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
FERPLUS_LABELS: dict[str, str | None] = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "contempt": "contempt",
    "unknown": None,
    "NF": None,
}
# The 8 emotion classes in canonical vocabulary order (emorec.labels.EMOTIONS).
FERPLUS_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")
_USAGES = ("Training", "PublicTest", "PrivateTest")


@dataclass
class VotedFaceSample(FaceSample):
    """A FER2013 image with its FER+ votes (counts over ``VOTE_CLASSES``)."""

    votes: np.ndarray | None = None
    fer2013_label: str | None = None  # the original FER2013 folder label


def majority_label(votes: np.ndarray | list[int]) -> str | None:
    """The canonical plurality label, or None when it is unknown / NF, tied, or there are no votes.

    >>> majority_label([7, 2, 0, 0, 0, 0, 0, 0, 1, 0])
    'neutral'
    >>> majority_label([4, 4, 0, 0, 0, 0, 0, 0, 2, 0]) is None
    True
    """
    v = np.asarray(votes, dtype=np.int64)
    if v.shape != (len(VOTE_CLASSES),):
        raise ValueError(f"expected {len(VOTE_CLASSES)} vote counts, got shape {v.shape}")
    top = int(v.max())
    if top <= 0 or int((v == top).sum()) > 1:
        return None
    return FERPLUS_LABELS[VOTE_CLASSES[int(v.argmax())]]


def vote_distribution(votes: np.ndarray | list[int], labels: tuple[str, ...] = FERPLUS_EMOTIONS) -> np.ndarray:
    """Votes over ``labels`` (canonical names) normalised to 1; zeros when no emotion vote exists."""
    v = np.asarray(votes, dtype=np.float64)
    by_label = {FERPLUS_LABELS[c]: v[i] for i, c in enumerate(VOTE_CLASSES) if FERPLUS_LABELS[c]}
    dist = np.array([by_label.get(name, 0.0) for name in labels], dtype=np.float64)
    total = dist.sum()
    return (dist / total if total > 0 else dist).astype(np.float32)


def _folder_label(jpg: str) -> str | None:
    from emorec.labels import UnknownLabelError, canonical

    parts = Path(jpg).parts
    try:
        return canonical(parts[-2]) if len(parts) >= 2 else None
    except UnknownLabelError:
        return None


def read_votes(votes_csv: str | Path) -> list[tuple[str, str, np.ndarray]]:
    """(jpg path under fer2013/, usage, votes) for every row that has votes; unmatched rows are left out."""
    path = Path(votes_csv)
    if not path.is_file():
        raise DatasetError(f"FER+ votes file {path} not found: expected {VOTES_FILE} in the ferplus folder")
    rows: list[tuple[str, str, np.ndarray]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = [f"votes_{c}" for c in VOTE_CLASSES]
        missing = [c for c in ["jpg", "usage", *columns] if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path} lacks columns {missing}: is this fer2013-votes.csv?")
        for row in reader:
            if row.get("match") == "unmatched" or not row[columns[0]].strip():
                continue
            try:
                votes = np.array([int(float(row[c])) for c in columns], dtype=np.int64)
            except ValueError:
                continue
            rows.append((row["jpg"], row["usage"], votes))
    return rows


def find_fer2013(ferplus_root: Path) -> Path:
    """FER2013 image folder next to the ferplus folder (../fer2013), or $EMOREC_DATA/fer2013."""
    for candidate in (ferplus_root.parent / "fer2013", ferplus_root / "fer2013"):
        if (candidate / "train").is_dir():
            return candidate
    from emorec.paths import data_root

    return data_root(None) / "fer2013"


def load_ferplus(root: str | Path, fer2013_root: str | Path | None = None, *,
                 target: str = "majority") -> FaceDataset:
    """FER+ as a FaceDataset of :class:`VotedFaceSample` (8 classes incl. contempt).

    ``root`` is the ferplus folder (or the votes CSV itself). ``target="majority"``
    keeps images with a clear emotion plurality, labelled with it; ``"all"``
    keeps every image that has emotion votes (label = plurality emotion when
    clear, else the FER2013 folder label), for distribution training.
    """
    root = Path(root)
    votes_csv = root if root.is_file() else root / VOTES_FILE
    images = Path(fer2013_root) if fer2013_root else find_fer2013(votes_csv.parent)
    if not images.is_dir():
        raise DatasetError(f"FER2013 image folder {images} not found: FER+ votes are joined onto its files")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    for jpg, usage, votes in read_votes(votes_csv):
        if usage not in _USAGES:
            skipped.append(f"{jpg}: unknown usage {usage!r}")
            continue
        label = majority_label(votes)
        folder = _folder_label(jpg)
        if label is None:
            if target != "all" or vote_distribution(votes).sum() == 0:
                skipped.append(f"{jpg}: no clear FER+ majority")
                continue
            label = folder or FERPLUS_EMOTIONS[int(vote_distribution(votes).argmax())]
        samples.append(VotedFaceSample(label=label, path=str(images / jpg), split=usage,
                                       votes=votes, fer2013_label=folder))
    if not samples:
        raise DatasetError(f"{votes_csv} gave no usable FER+ rows")
    return FaceDataset("ferplus", samples, labels=list(FERPLUS_EMOTIONS), skipped=skipped)


def distributions(dataset: FaceDataset) -> np.ndarray:
    """(N, len(dataset.labels)) vote distributions of a FER+ dataset, in its label order."""
    return np.stack([vote_distribution(s.votes, tuple(dataset.labels)) for s in dataset.samples])  # type: ignore[attr-defined]
