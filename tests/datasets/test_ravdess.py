"""RAVDESS loader: file-name scheme, both layouts, unknown names, real copy."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.datasets.ravdess import load_ravdess, parse_name
from emorec.errors import DatasetError
from emorec.labels import RAVDESS_CODES


def _wav(path: Path, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * np.sin(np.arange(int(16000 * seconds)) / 7)).astype(np.float32), 16000)
    return path


def test_parse_every_field():
    f = parse_name("03-01-06-02-01-02-13")
    assert f == {"modality": "03", "vocal_channel": "speech", "emotion": "fear", "intensity": "strong",
                 "statement": "01", "repetition": "02", "actor": "13", "sex": "male"}
    assert parse_name("03-01-01-01-02-01-20")["sex"] == "female"
    for code, label in RAVDESS_CODES.items():
        assert parse_name(f"03-01-{code}-01-01-01-01")["emotion"] == label


@pytest.mark.parametrize("stem", ["03-01-09-01-01-01-01", "03-01-01-03-01-01-01", "03-01-01-01-01-01-25",
                                  "03-01-01-01-01-01", "notes", "03_01_01_01_01_01_01"])
def test_parse_rejects_bad_names(stem):
    assert parse_name(stem) is None


def test_flat_and_actor_folders_with_unknown_files(tmp_path, caplog):
    _wav(tmp_path / "03-01-05-01-01-01-01.wav")
    _wav(tmp_path / "Actor_02" / "03-01-03-02-02-01-02.flac")
    _wav(tmp_path / "Actor_02" / "03-02-03-02-02-01-02.wav")  # song: skipped unless asked
    _wav(tmp_path / "readme_clip.wav")
    _wav(tmp_path / "03-01-99-01-01-01-01.wav")
    (tmp_path / "notes.txt").write_text("not audio")
    with caplog.at_level(logging.WARNING):
        scan = load_ravdess(tmp_path)
    assert sorted((r.label, r.speaker) for r in scan.records) == [("angry", "ravdess:01"), ("happy", "ravdess:02")]
    assert sorted(scan.skipped) == ["03-01-99-01-01-01-01.wav", "03-02-03-02-02-01-02.wav", "readme_clip.wav"]
    assert "skipped 3" in caplog.text
    assert "skipped 3 unrecognised" in scan.summary()
    assert len(load_ravdess(tmp_path, include_song=True).records) == 3
    rec = next(r for r in scan.records if r.label == "happy")
    assert rec.meta["intensity"] == "strong" and rec.meta["sex"] == "female" and rec.corpus == "ravdess"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="RAVDESS folder .* not found"):
        load_ravdess(tmp_path / "nope")


@pytest.mark.data
def test_real_ravdess_copy(shared_data):
    scan = load_ravdess(shared_data / "ravdess")
    assert len(scan.records) == 1200 and not scan.skipped
    assert len({r.speaker for r in scan.records}) == 20
    counts = {k: sum(r.label == k for r in scan.records) for k in RAVDESS_CODES.values()}
    assert counts["neutral"] == 80 and all(v == 160 for k, v in counts.items() if k != "neutral")
