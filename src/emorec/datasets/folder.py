"""Any folder of class sub-folders: ``<root>/<emotion>/*.jpg`` (recursive inside each class)."""
from __future__ import annotations

from pathlib import Path

from emorec.datasets.faces import IMAGE_SUFFIXES, FaceDataset, FaceSample, require_dir
from emorec.errors import DatasetError
from emorec.labels import UnknownLabelError, canonical


def load_image_folder(root: str | Path, name: str | None = None) -> FaceDataset:
    """Class names are mapped to canonical emotions; unknown class folders are skipped."""
    root = require_dir(root, "image")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = canonical(class_dir.name)
        except UnknownLabelError as exc:
            skipped.append(f"{class_dir}: {exc}")
            continue
        for f in sorted(class_dir.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(FaceSample(label=label, path=str(f)))
    if not samples:
        raise DatasetError(f"no images in class sub-folders of {root} (expected <root>/<emotion>/*.jpg)")
    return FaceDataset(name or root.name, samples, skipped=skipped)
