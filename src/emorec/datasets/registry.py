"""Face datasets by name: one place that maps a name (or a path) to its loader. No torch."""
from __future__ import annotations

from pathlib import Path

from emorec.datasets.faces import FaceDataset
from emorec.errors import DatasetError

FACE_DATASETS = ("fer2013", "ckplus48", "ckextended", "folder", "fer-csv")
_FOLDERS = {"ckextended": "ckextended.csv"}  # name under the data root, where it differs


def load_face_dataset(name: str, data: str | None) -> FaceDataset:
    """Load face dataset ``name`` from ``data`` (the dataset itself, or a data root) or $EMOREC_DATA."""
    from emorec.datasets.ckplus import load_ckextended_csv, load_ckplus48
    from emorec.datasets.fer2013 import load_fer2013, load_fer_csv
    from emorec.datasets.folder import load_image_folder
    from emorec.paths import data_root

    loaders = {"fer2013": load_fer2013, "ckplus48": load_ckplus48, "ckextended": load_ckextended_csv,
               "fer-csv": load_fer_csv, "folder": load_image_folder}
    if name not in loaders:
        raise DatasetError(f"unknown face dataset {name!r}; choose from {', '.join(FACE_DATASETS)}")
    path = Path(data) if data else None
    if path is not None and path.exists() and (path.is_file() or not (path / name).exists()):
        target = path  # --data points at the dataset itself
    else:
        target = data_root(data) / _FOLDERS.get(name, name)
    return loaders[name](target)
