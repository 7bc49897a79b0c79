"""FER2013: the original CSV (``emotion,pixels,Usage``) and the image-folder export.

The CSV format is also that of the Kaggle CK+ file ``ckextended.csv`` (labels
0-7, 7 = contempt), which the original notebooks used; see ``ckplus.py``.
Official splits: Training / PublicTest (validation) / PrivateTest (test).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from emorec.datasets.faces import FaceDataset, FaceSample, class_folders, image_files, require_dir
from emorec.errors import DatasetError
from emorec.labels import FER2013_CODES

USAGES = ("Training", "PublicTest", "PrivateTest")
_FILE_SPLIT = re.compile(r"^(Training|PublicTest|PrivateTest)_")


def load_fer_csv(path: str | Path, name: str = "fer2013", side: int = 48) -> FaceDataset:
    """Read a FER2013-format CSV. Malformed rows are skipped with a reason in ``skipped``.

    >>> ds = load_fer_csv("fer2013.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"CSV file {path} not found: check the path or --data")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower() for f in (reader.fieldnames or [])}
        if not {"emotion", "pixels"} <= fields:
            raise DatasetError(
                f"{path} is not a FER2013-style CSV: expected columns emotion,pixels[,Usage], got {reader.fieldnames}"
            )
        for row_no, row in enumerate(reader, start=2):  # header is line 1
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            try:
                code = int(row["emotion"])
                label = FER2013_CODES[code]
            except (ValueError, KeyError):
                skipped.append(f"{path.name}:{row_no}: unknown emotion code {row.get('emotion')!r}")
                continue
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.float32)
            except ValueError:
                skipped.append(f"{path.name}:{row_no}: pixels are not numbers")
                continue
            if pixels.size != side * side or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                skipped.append(f"{path.name}:{row_no}: expected {side * side} pixel values in 0-255, got {pixels.size}")
                continue
            usage = row.get("usage") or None
            samples.append(
                FaceSample(
                    label=label,
                    path=f"{path}:{row_no}",
                    split=usage,
                    pixels=pixels.reshape(side, side).astype(np.uint8),
                )
            )
    if not samples:
        raise DatasetError(f"{path} holds no usable rows ({len(skipped)} malformed)")
    return FaceDataset(name, samples, skipped=skipped)


def load_fer_folder(root: str | Path, name: str = "fer2013") -> FaceDataset:
    """Read the image-folder export ``train|test/<emotion>/<Usage>_<id>.jpg``.

    The split comes from the file-name prefix (Training / PublicTest / PrivateTest);
    files without a prefix get the split of their top folder (train -> Training).
    """
    root = require_dir(root, "FER2013")
    samples: list[FaceSample] = []
    skipped: list[str] = []
    parts = [p for p in ("train", "test") if (root / p).is_dir()]
    if not parts:
        raise DatasetError(f"{root} has neither train/ nor test/: is this the FER2013 image-folder export?")
    for part in parts:
        for label, class_dir in class_folders(root / part, skipped):
            for f in image_files(class_dir):
                m = _FILE_SPLIT.match(f.name)
                split = m.group(1) if m else ("Training" if part == "train" else "Test")
                samples.append(FaceSample(label=label, path=str(f), split=split))
    if not samples:
        raise DatasetError(f"no images found under {root}/train|test/<emotion>/")
    return FaceDataset(name, samples, skipped=skipped)


def load_fer2013(root_or_csv: str | Path) -> FaceDataset:
    """FER2013 from either its CSV file or its image-folder export."""
    p = Path(root_or_csv)
    if p.is_file():
        return load_fer_csv(p)
    csvs = sorted(p.glob("*.csv")) if p.is_dir() else []
    if p.is_dir() and not (p / "train").is_dir() and csvs:
        return load_fer_csv(csvs[0])
    return load_fer_folder(p)
