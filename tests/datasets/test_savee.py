"""SAVEE loader: flat ALL/ and per-speaker AudioData/ layouts, every emotion code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.datasets.savee import load_savee, parse_path
from emorec.labels import SAVEE_CODES


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * np.sin(np.arange(4000) / 7)).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("code,label", sorted(SAVEE_CODES.items()))
def test_every_code_in_both_layouts(code, label):
    assert parse_path(Path(f"ALL/JE_{code}07.wav"))["emotion"] == label
    assert parse_path(Path(f"AudioData/KL/{code}07.wav")) == {"speaker": "KL", "emotion": label, "code": code, "sentence": "07"}


def test_sa_su_not_confused_with_a():
    assert parse_path(Path("ALL/DC_sa01.wav"))["emotion"] == "sad"
    assert parse_path(Path("ALL/DC_su01.wav"))["emotion"] == "surprise"
    assert parse_path(Path("ALL/DC_a01.wav"))["emotion"] == "angry"
    assert parse_path(Path("ALL/XX_a01.wav")) is None
    assert parse_path(Path("AudioData/XX/a01.wav")) is None
    assert parse_path(Path("ALL/DC_b01.wav")) is None


def test_flat_layout(tmp_path):
    for spk in ("DC", "JE", "JK", "KL"):
        for code in ("a", "n", "sa"):
            _wav(tmp_path / "ALL" / f"{spk}_{code}01.wav")
    _wav(tmp_path / "ALL" / "info.wav")
    scan = load_savee(tmp_path)
    assert len(scan.records) == 12 and scan.skipped == ["ALL/info.wav"]
    assert {r.speaker for r in scan.records} == {"savee:DC", "savee:JE", "savee:JK", "savee:KL"}
    assert {r.label for r in scan.records} == {"angry", "neutral", "sad"}


def test_per_speaker_layout_and_duplicates(tmp_path):
    _wav(tmp_path / "AudioData" / "DC" / "su03.wav")
    _wav(tmp_path / "AudioData" / "JK" / "f12.wav")
    _wav(tmp_path / "AudioData" / "JK" / "Info.wav")
    _wav(tmp_path / "ALL" / "DC_su03.wav")  # the same clip in the flat layout
    scan = load_savee(tmp_path)
    assert sorted((r.speaker, r.label) for r in scan.records) == [("savee:DC", "surprise"), ("savee:JK", "fear")]
    assert scan.skipped == ["AudioData/JK/Info.wav"]
    assert any("duplicate" in n for n in scan.notes)
