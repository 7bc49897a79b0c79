"""CK+ (extended Cohn-Kanade): the CK+48 image folders and the Kaggle ``ckextended.csv``.

CK+48 layout: ``<emotion>/S<subject>_<sequence>_<frame>.png``; the subject id
is parsed from the file name so subject-independent splits are possible.
``ckextended.csv`` uses the FER2013 CSV format with label 7 = contempt and has
no subject ids (only random or its Usage splits are possible with it).
"""
from __future__ import annotations

import re
from pathlib import Path

from emorec.datasets.faces import FaceDataset, FaceSample, class_folders, image_files, require_dir
from emorec.datasets.fer2013 import load_fer_csv
from emorec.errors import DatasetError

_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)", re.IGNORECASE)


def load_ckplus48(root: str | Path) -> FaceDataset:
    """Read CK+48 class folders; files whose names do not parse are skipped with a reason."""
    root = require_dir(root, "CK+48")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    for label, class_dir in class_folders(root, skipped):
        for f in image_files(class_dir):
            m = _NAME.match(f.name)
            if not m:
                skipped.append(f"{f}: name is not S<subject>_<sequence>_<frame>")
                continue
            samples.append(FaceSample(label=label, path=str(f), subject=m.group(1).upper()))
    if not samples:
        raise DatasetError(f"no CK+48 images found under {root}/<emotion>/S<subject>_*.png")
    return FaceDataset("ckplus48", samples, skipped=skipped)


def load_ckextended_csv(path: str | Path) -> FaceDataset:
    """The Kaggle ``ckextended.csv`` (FER2013 CSV format, labels 0-7)."""
    return load_fer_csv(path, name="ckextended")
