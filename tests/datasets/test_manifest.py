"""Manifest CSV loader and combining corpora over a shared label set."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.datasets.audio_corpus import AudioRecord, CorpusScan, combine, parse_label_map
from emorec.datasets.manifest import load_manifest
from emorec.errors import DatasetError


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * np.sin(np.arange(4000) / 7)).astype(np.float32), 16000)
    return path


def test_manifest_paths_labels_speakers(tmp_path):
    _wav(tmp_path / "clips" / "a.wav")
    b = _wav(tmp_path / "elsewhere" / "b.flac".replace(".flac", ".wav"))
    (tmp_path / "m.csv").write_text(f"path,label,speaker\nclips/a.wav,Happiness,s1\n{b},angry,s2\nclips/missing.wav,sad,s3\n")
    scan = load_manifest(tmp_path / "m.csv")
    assert [(r.path.name, r.label, r.speaker) for r in scan.records] == [("a.wav", "happy", "manifest:s1"),
                                                                          ("b.wav", "angry", "manifest:s2")]
    assert len(scan.skipped) == 1 and "missing.wav" in scan.skipped[0]


def test_manifest_without_speaker_column_notes_it(tmp_path):
    _wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("label,path\nsad,a.wav\n")
    scan = load_manifest(tmp_path / "m.csv")
    assert scan.records[0].label == "sad" and scan.records[0].speaker.startswith("manifest:clip")
    assert any("no speaker column" in n for n in scan.notes)


@pytest.mark.parametrize("text,match", [
    ("file,emotion\na.wav,sad\n", "path,label"),
    ("path,label\na.wav,bored\n", "m.csv:2: unknown emotion label 'bored'"),
    ("path,label\nmissing.wav,sad\n", "no usable rows"),
])
def test_manifest_errors(tmp_path, text, match):
    _wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        load_manifest(tmp_path / "m.csv")


def test_missing_manifest(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_manifest(tmp_path / "none.csv")


def _scan(corpus: str, labels: list[str]) -> CorpusScan:
    recs = [AudioRecord(Path(f"{corpus}{i}.wav"), lab, f"{corpus}:s{i % 2}", corpus) for i, lab in enumerate(labels)]
    return CorpusScan(corpus, Path("."), recs)


def test_label_map_parsing():
    assert parse_label_map("calm=neutral, surprise=drop,fearful=") == {"calm": "neutral", "surprise": None, "fear": None}
    with pytest.raises(DatasetError, match="SOURCE=TARGET"):
        parse_label_map("calm")
    with pytest.raises(DatasetError, match="unknown emotion"):
        parse_label_map("calm=bored")


def test_combine_cremad_and_savee_like_the_notebook():
    cremad = _scan("cremad", ["angry", "disgust", "fear", "happy", "neutral", "sad"])
    savee = _scan("savee", ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"])
    shared = combine([cremad, savee], shared_only=True)
    assert {r.label for r in shared} == {"angry", "disgust", "fear", "happy", "neutral", "sad"}
    assert len(shared) == 12
    ravdess = _scan("ravdess", ["calm", "neutral", "surprise", "happy"])
    merged = combine([ravdess, savee], parse_label_map("calm=neutral,surprise=drop"))
    assert "calm" not in {r.label for r in merged} and "surprise" not in {r.label for r in merged}
    calm = [r for r in merged if r.meta.get("original_label") == "calm"]
    assert len(calm) == 1 and calm[0].label == "neutral"
    with pytest.raises(DatasetError, match="no clips left"):
        combine([_scan("x", ["sad"])], {"sad": None})
