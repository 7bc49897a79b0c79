"""Where data and packaged models live. Never hard-coded: EMOREC_DATA or --data."""
from __future__ import annotations

import os
from pathlib import Path

from emorec.errors import DatasetError

PACKAGE_MODELS = Path(__file__).resolve().parent / "models"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the data root: ``explicit`` (a --data option) or $EMOREC_DATA.

    Raises DatasetError with advice when neither is set or the folder is missing.
    """
    raw = explicit if explicit is not None else os.environ.get("EMOREC_DATA")
    if not raw:
        raise DatasetError(
            "no data folder given: pass --data DIR or set EMOREC_DATA "
            "(e.g. export EMOREC_DATA=../shared/data)"
        )
    root = Path(raw).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist: check --data or EMOREC_DATA")
    return root


def dataset_dir(name: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a corpus folder: an existing path is used as is, else <data root>/<name>."""
    direct = Path(name).expanduser()
    if direct.is_dir():
        return direct
    folder = data_root(explicit) / name
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder} not found: check the name or --data")
    return folder
