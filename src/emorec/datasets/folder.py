"""Any folder of class sub-folders: ``<root>/<emotion>/*.jpg`` (recursive inside each class)."""
from __future__ import annotations

from pathlib import Path

from emorec.datasets.faces import FaceDataset, FaceSample, class_folders, image_files, require_dir
from emorec.errors import DatasetError


def load_image_folder(root: str | Path, name: str | None = None) -> FaceDataset:
    """Class names are mapped to canonical emotions; unknown class folders are skipped."""
    root = require_dir(root, "image")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    for label, class_dir in class_folders(root, skipped):
        samples += [FaceSample(label=label, path=str(f)) for f in image_files(class_dir, recursive=True)]
    if not samples:
        raise DatasetError(f"no images in class sub-folders of {root} (expected <root>/<emotion>/*.jpg)")
    return FaceDataset(name or root.name, samples, skipped=skipped)
