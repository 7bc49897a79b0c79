"""Datasets of both modalities by name: one registry with loader, folders and licence. No torch.

Every entry is a :class:`DatasetInfo`: its modality (``face`` / ``voice``), a
loader given as ``"module:function"`` (imported only when used), the folder
names tried under the data root, the licence line that model cards carry
(:func:`dataset_license`), and which identities its splits keep apart.

Speech corpora come from :data:`emorec.datasets.speech_corpora.SPEECH_CORPORA`.
A new corpus registers itself with one call (or, from another package, through
the ``emorec.datasets`` entry-point group, loading to a :class:`DatasetInfo`)::

    from emorec.datasets.registry import DatasetInfo, register_dataset
    register_dataset(DatasetInfo("mycorpus", "voice", "mypkg.corpus:load", ("mycorpus",),
                                 license="CC BY 4.0", identities="speaker"))

>>> get_dataset("ravdess").modality, get_dataset("fer2013").modality
('voice', 'face')
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emorec.datasets.faces import FaceDataset
from emorec.errors import DatasetError, UsageError
from emorec.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: where it lives, how to load it, and under which terms."""

    name: str
    modality: str  # "face" or "voice"
    loader: str  # "module:function"; the function takes the dataset path (plus options)
    folders: tuple[str, ...] = ()  # names tried under the data root (default: the name)
    license: str = ""  # the line a model card trained on it carries
    identities: str = ""  # "subject" / "speaker" when known (identity-independent splits), else ""
    description: str = ""

    def load_function(self) -> Callable[..., Any]:
        module, _, func = self.loader.partition(":")
        return getattr(importlib.import_module(module), func)

    def load(self, path: str | Path, **options: Any) -> Any:
        """The dataset at ``path``: a FaceDataset (faces) or a CorpusScan (speech)."""
        return self.load_function()(path, **options)

    def find(self, data: str | Path | None = None) -> Path:
        """The dataset's folder (or file) under the data root (``data`` or $EMOREC_DATA)."""
        from emorec.paths import data_root

        root = data_root(data)
        for folder in self.folders or (self.name,):
            if (root / folder).exists():
                return root / folder
        tried = ", ".join(self.folders or (self.name,))
        raise DatasetError(f"no {self.name} folder under {root} (tried {tried}): pass its path with --data")


DATASETS: Registry[DatasetInfo] = Registry("dataset", entry_point_group="emorec.datasets")


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    if info.modality not in ("face", "voice"):
        raise ValueError(f"dataset {info.name!r}: modality must be 'face' or 'voice', got {info.modality!r}")
    return DATASETS.register(info.name, info, replace=replace)


def get_dataset(name: str) -> DatasetInfo:
    """The registered dataset ``name``; an unknown name lists the known ones (UsageError)."""
    return DATASETS.get(name)


def dataset_names(modality: str | None = None) -> list[str]:
    return [n for n, info in DATASETS.items() if modality is None or info.modality == modality]


def dataset_license(names: Iterable[str], fallback: str = "") -> str:
    """The licence line of weights trained on ``names`` (every dataset's terms apply)."""
    parts = []
    for name in dict.fromkeys(names):
        info = DATASETS.get(name) if name in DATASETS else None
        if info is not None and info.license and info.license not in parts:
            parts.append(info.license)
    if not parts:
        return fallback
    return "; ".join(parts) + ("; the weights carry the most restrictive of these terms" if len(parts) > 1 else "")


# -- face datasets --------------------------------------------------------------------------------

_FER_TERMS = "FER2013: research use; the images belong to their owners"
for _info in (
    DatasetInfo("fer2013", "face", "emorec.datasets.fer2013:load_fer2013", ("fer2013",), _FER_TERMS,
                description="FER2013 48x48 gray faces, official Training/PublicTest/PrivateTest split"),
    DatasetInfo("ferplus", "face", "emorec.datasets.ferplus:load_ferplus", ("ferplus",),
                "FER+ labels (MIT) on FER2013 images (research use; the images belong to their owners)",
                description="FER2013 images relabelled by 10 annotators (8 classes incl. contempt)"),
    DatasetInfo("ckplus48", "face", "emorec.datasets.ckplus:load_ckplus48", ("ckplus48",),
                "CK+: non-commercial research use only", "subject", "CK+ peak frames, 48x48, by subject"),
    DatasetInfo("ckextended", "face", "emorec.datasets.ckplus:load_ckextended_csv", ("ckextended.csv",),
                "CK+: non-commercial research use only", "subject", "CK+ extended CSV"),
    DatasetInfo("expw", "face", "emorec.datasets.expw:load_expw_crops", ("expw",),
                "ExpW: non-commercial research use", description="ExpW training crops"),
    DatasetInfo("expw-photos", "face", "emorec.datasets.expw:load_expw_photos", ("expw",),
                "ExpW: non-commercial research use", description="ExpW development photos (never train on these)"),
    DatasetInfo("folder", "face", "emorec.datasets.folder:load_image_folder", (),
                description="an image folder with one sub-folder per emotion (pass its path)"),
    DatasetInfo("fer-csv", "face", "emorec.datasets.fer2013:load_fer_csv", (),
                description="a FER2013-format CSV (pass its path)"),
):
    register_dataset(_info)


def _register_speech_corpora() -> None:
    from emorec.datasets.speech_corpora import SPEECH_CORPORA

    for corpus in SPEECH_CORPORA.values():
        if corpus.name not in DATASETS:
            register_dataset(DatasetInfo(corpus.name, "voice", corpus.loader, corpus.folders, corpus.license,
                                         "speaker", corpus.language))
    if "manifest" not in DATASETS:
        register_dataset(DatasetInfo("manifest", "voice", "emorec.datasets.manifest:load_manifest", (),
                                     "", "speaker", "a CSV of path,label,speaker rows (pass its path)"))


_register_speech_corpora()

FACE_DATASETS = tuple(dataset_names("face"))  # the names `emorec face train --dataset` accepts


# -- resolving NAME / NAME=PATH specs (``emorec voice train --corpus``) -------------------------


def parse_dataset_spec(spec: str, modality: str = "voice") -> tuple[str, str | None]:
    """``"ravdess"`` -> ("ravdess", None); ``"crema-d=/data/x"`` -> ("cremad", "/data/x")."""
    name, _, path = spec.partition("=")
    name = name.strip().lower().replace("-", "")
    known = [n for n in dataset_names(modality) if n != "manifest"]
    if name not in DATASETS or get_dataset(name).modality != modality:
        raise DatasetError(f"corpus {name!r} unknown: use {', '.join(known)} or manifest (NAME or NAME=PATH)")
    return name, (path.strip() or None)


def resolve_dataset_path(name: str, explicit: str | None, data: str | None, n_datasets: int = 1) -> Path:
    """Where a dataset lives: NAME=PATH, or --data itself (one dataset), or a folder under the data root."""
    from emorec.paths import data_root

    folders = get_dataset(name).folders
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise DatasetError(f"{name} data {path} not found")
        return path
    if data and n_datasets == 1 and Path(data).exists():
        direct = Path(data)
        if not folders or not any((direct / f).is_dir() for f in folders):
            return direct
    if not folders:
        raise DatasetError(f"the {name} corpus needs its path: --corpus {name}=PATH" if name != "manifest"
                           else "the manifest corpus needs its CSV: --corpus manifest=PATH.csv")
    root = data_root(data)
    for folder in folders:
        if (root / folder).is_dir():
            return root / folder
    raise DatasetError(f"no {name} folder under {root} (tried {', '.join(folders)}): pass --corpus {name}=PATH")


def load_face_dataset(name: str, data: str | None) -> FaceDataset:
    """Load face dataset ``name`` from ``data`` (the dataset itself, or a data root) or $EMOREC_DATA."""
    from emorec.paths import data_root

    try:
        info = get_dataset(name)
    except UsageError:
        info = None
    if info is None or info.modality != "face":
        raise DatasetError(f"unknown face dataset {name!r}; choose from {', '.join(dataset_names('face'))}")
    folder = info.folders[0] if info.folders else name
    path = Path(data) if data else None
    if path is not None and path.exists() and (path.is_file() or not (path / folder).exists()):
        target = path  # --data points at the dataset itself
    else:
        target = data_root(data) / folder
    return info.load(target)
