"""Shared record types for face datasets and image decoding for loaders."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emorec.errors import DatasetError
from emorec.labels import UnknownLabelError, canonical, ordered

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm"}


@dataclass
class FaceSample:
    """One labelled face image. ``pixels`` is set when the source is a CSV row."""

    label: str  # canonical emotion name
    path: str = ""  # file path, or "<csv>:<row>" for CSV rows
    subject: str | None = None
    split: str | None = None  # official split: Training / PublicTest / PrivateTest / ...
    pixels: np.ndarray | None = None


@dataclass
class FaceDataset:
    """A list of samples plus the label set they use (vocabulary order)."""

    name: str
    samples: list[FaceSample]
    labels: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one-line reasons for rejected items

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = ordered(s.label for s in self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def y(self) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.labels)}
        return np.array([index[s.label] for s in self.samples], dtype=np.int64)

    @property
    def subjects(self) -> np.ndarray:
        return np.array([s.subject or "" for s in self.samples])

    @property
    def splits(self) -> np.ndarray:
        return np.array([s.split or "" for s in self.samples])

    def counts(self) -> dict[str, int]:
        c = Counter(s.label for s in self.samples)
        return {name: c.get(name, 0) for name in self.labels}

    def subset(self, indices: np.ndarray | list[int], name: str | None = None) -> FaceDataset:
        return FaceDataset(name or self.name, [self.samples[i] for i in indices], list(self.labels))

    def images(self, size: tuple[int, int] = (48, 48), progress: bool = True) -> np.ndarray:
        """Decode every sample to uint8 grayscale (N, H, W) at ``size`` (height, width)."""
        from tqdm.auto import tqdm

        from emorec.face.preprocess import resize_face

        out = np.empty((len(self.samples), *size), dtype=np.uint8)
        spec = {"size": list(size), "interpolation": "area"}
        for i, s in enumerate(tqdm(self.samples, desc=f"loading {self.name}", disable=not progress, leave=False)):
            img = s.pixels if s.pixels is not None else read_gray(s.path)
            out[i] = resize_face(img, spec)
        return out


def class_folders(root: Path, skipped: list[str]) -> Iterator[tuple[str, Path]]:
    """(canonical label, folder) for each class sub-folder; unknown names are noted in ``skipped``."""
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            yield canonical(class_dir.name), class_dir
        except UnknownLabelError as exc:
            skipped.append(f"{class_dir}: {exc}")


def image_files(folder: Path, recursive: bool = False) -> Iterator[Path]:
    files = folder.rglob("*") if recursive else folder.iterdir()
    return (f for f in sorted(files) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def read_gray(path: str | Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise DatasetError(f"cannot decode image {path}: remove or replace the file")
    return img


def require_dir(path: str | Path, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} not found: check --data / EMOREC_DATA")
    return folder
