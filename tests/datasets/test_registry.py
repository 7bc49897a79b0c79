"""One dataset registry for both modalities: names, loaders, folders, licences, plug-ins."""
from __future__ import annotations

import pytest

from emorec.datasets.registry import (
    DATASETS,
    DatasetInfo,
    dataset_license,
    dataset_names,
    get_dataset,
    load_face_dataset,
    register_dataset,
)
from emorec.errors import DatasetError, UsageError


def test_both_modalities_are_registered() -> None:
    assert {"fer2013", "ferplus", "ckplus48", "expw", "folder"} <= set(dataset_names("face"))
    assert {"ravdess", "cremad", "savee", "emovo", "urdu", "manifest"} <= set(dataset_names("voice"))
    assert get_dataset("ravdess").identities == "speaker" and get_dataset("ckplus48").identities == "subject"
    with pytest.raises(UsageError, match="unknown dataset 'timit'; known: "):
        get_dataset("timit")


def test_loaders_resolve_to_functions() -> None:
    for name, info in DATASETS.items():
        assert callable(info.load_function()), name


def test_licence_comes_from_the_registry() -> None:
    assert "CC BY-NC-SA 4.0" in dataset_license(["ravdess"])
    both = dataset_license(["fer2013", "ckplus48", "fer2013"])
    assert both.count("FER2013") == 1 and "CK+" in both and "most restrictive" in both
    assert dataset_license(["unregistered"], fallback="see terms") == "see terms"


def test_a_new_corpus_registers_with_one_call(tmp_path, monkeypatch) -> None:
    info = DatasetInfo("tiny-faces", "face", "emorec.datasets.folder:load_image_folder", ("tiny",), "CC0")
    register_dataset(info)
    try:
        assert get_dataset("tiny-faces") is info and "tiny-faces" in dataset_names("face")
        (tmp_path / "tiny" / "happy").mkdir(parents=True)
        import cv2
        import numpy as np

        cv2.imwrite(str(tmp_path / "tiny" / "happy" / "a.png"), np.full((48, 48), 128, np.uint8))
        ds = load_face_dataset("tiny-faces", str(tmp_path))
        assert len(ds) == 1 and ds.labels == ["happy"]
        with pytest.raises(ValueError, match="already registered"):
            register_dataset(DatasetInfo("tiny-faces", "face", "x:y"))
    finally:
        DATASETS.unregister("tiny-faces")
    with pytest.raises(ValueError, match="modality"):
        register_dataset(DatasetInfo("odd", "smell", "x:y"))


def test_face_loader_refuses_speech_names() -> None:
    with pytest.raises(DatasetError, match="unknown face dataset 'ravdess'"):
        load_face_dataset("ravdess", None)
