"""CREMA-D loader: clip names, demographics, crowd-perceived labels, missing metadata."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.datasets.cremad import load_cremad, parse_name
from emorec.errors import DatasetError

REAL_META = Path(os.environ.get("EMOREC_DATA", "/nonexistent")) / "crema-d-meta"
CLIPS = ["1001_DFA_ANG_XX", "1001_IEO_HAP_LO", "1002_TIE_SAD_HI", "1091_WSI_NEU_XX", "1050_ITS_FEA_MD", "1050_MTI_DIS_HI"]


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * np.sin(np.arange(4000) / 7)).astype(np.float32), 16000)
    return path


def _corpus(root: Path, clips=CLIPS) -> Path:
    for c in clips:
        _wav(root / "AudioWAV" / f"{c}.wav")
    return root


def _write_meta(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "VideoDemographics.csv", "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(["ActorID", "Age", "Sex", "Race", "Ethnicity"])
        for a, sex in (("1001", "Male"), ("1002", "Female"), ("1050", "Female"), ("1091", "Male")):
            w.writerow([int(a), 30, sex, "Caucasian", "Not Hispanic"])
    with open(folder / "summaryTable.csv", "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(["", "FileName", "VoiceVote", "VoiceLevel", "FaceVote", "FaceLevel", "MultiModalVote", "MultiModalLevel"])
        votes = {"1001_DFA_ANG_XX": "A", "1001_IEO_HAP_LO": "N", "1002_TIE_SAD_HI": "N:S", "1091_WSI_NEU_XX": "N",
                 "1050_ITS_FEA_MD": "S", "1050_MTI_DIS_HI": "D"}
        for i, (name, v) in enumerate(votes.items(), 1):
            w.writerow([str(i), name, v, "50", "H", "60", v, "55"])
    return folder


def test_parse_name():
    assert parse_name("1001_DFA_ANG_XX") == {"actor": "1001", "sentence": "DFA", "emotion": "angry", "level": "unspecified"}
    assert parse_name("1050_ITS_FEA_MD")["emotion"] == "fear"
    for bad in ("1000_DFA_ANG_XX", "1092_DFA_ANG_XX", "1001_XYZ_ANG_XX", "1001_DFA_CAL_XX", "1001_DFA_ANG_ZZ", "clip"):
        assert parse_name(bad) is None


def test_intended_labels_with_demographics_and_unknown_files(tmp_path):
    root = _corpus(tmp_path / "CREMA-D")
    _wav(root / "AudioWAV" / "1001_DFA_XXX_XX.wav")
    _wav(root / "AudioWAV" / "README.wav")
    _write_meta(root)
    scan = load_cremad(root)
    labels = {r.path.stem: r.label for r in scan.records}
    assert labels == {"1001_DFA_ANG_XX": "angry", "1001_IEO_HAP_LO": "happy", "1002_TIE_SAD_HI": "sad",
                      "1091_WSI_NEU_XX": "neutral", "1050_ITS_FEA_MD": "fear", "1050_MTI_DIS_HI": "disgust"}
    assert sorted(scan.skipped) == ["1001_DFA_XXX_XX.wav", "README.wav"]
    rec = next(r for r in scan.records if r.path.stem == "1002_TIE_SAD_HI")
    assert rec.speaker == "cremad:1002" and rec.meta["sex"] == "Female" and rec.meta["level"] == "high"


def test_crowd_labels_drop_ties(tmp_path):
    root = _corpus(tmp_path / "c")
    meta = _write_meta(tmp_path / "meta")
    scan = load_cremad(root, label_source="voice", meta_dir=meta)
    labels = {r.path.stem: r.label for r in scan.records}
    assert labels["1001_IEO_HAP_LO"] == "neutral"  # the crowd heard neutral
    assert labels["1050_ITS_FEA_MD"] == "sad"
    assert "1002_TIE_SAD_HI" not in labels  # tie N:S dropped
    assert any("tied crowd vote" in n for n in scan.notes)
    assert next(r for r in scan.records if r.path.stem == "1001_IEO_HAP_LO").meta["intended"] == "happy"
    face = load_cremad(root, label_source="face", meta_dir=meta)
    assert {r.label for r in face.records} == {"happy"}


def test_tabulated_votes_fallback(tmp_path):
    root = _corpus(tmp_path / "c", ["1001_IEO_HAP_LO"])
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "tabulatedVotes.csv").write_text(
        '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"\n'
        '"100002",0,0,0,3,6,0,"1001_IEO_HAP_LO",9,0.67,"N"\n'
        '"200002",0,0,0,8,1,0,"1001_IEO_HAP_LO",9,0.89,"H"\n')
    assert [r.label for r in load_cremad(root, "voice", meta).records] == ["neutral"]
    assert [r.label for r in load_cremad(root, "face", meta).records] == ["happy"]


def test_missing_metadata_messages(tmp_path):
    root = _corpus(tmp_path / "c")
    scan = load_cremad(root)  # demographics optional: noted, not fatal
    assert any("VideoDemographics.csv" in n for n in scan.notes)
    with pytest.raises(DatasetError, match="VideoDemographics.csv not found"):
        load_cremad(root, require_demographics=True)
    with pytest.raises(DatasetError, match="summaryTable.csv or tabulatedVotes.csv"):
        load_cremad(root, label_source="voice")
    with pytest.raises(DatasetError, match="metadata folder"):
        load_cremad(root, meta_dir=tmp_path / "missing")
    with pytest.raises(DatasetError, match="label source"):
        load_cremad(root, label_source="crowd")


def test_processed_results_layout(tmp_path):
    root = _corpus(tmp_path / "CREMA-D")
    meta = _write_meta(root / "processedResults")
    (meta / "VideoDemographics.csv").rename(root / "VideoDemographics.csv")
    scan = load_cremad(root, label_source="multimodal")
    assert len(scan.records) == 5 and all("sex" in r.meta for r in scan.records)


@pytest.mark.data
def test_real_metadata_with_synthetic_audio(tmp_path):
    if not REAL_META.is_dir():
        pytest.skip("EMOREC_DATA/crema-d-meta not present")
    with open(REAL_META / "SentenceFilenames.csv", newline="") as fh:
        names = [row["Filename"] for row in csv.DictReader(fh)]
    assert len(names) == 7442 and all(parse_name(n) for n in names)
    sample = names[::400]
    root = _corpus(tmp_path / "c", sample)
    intended = load_cremad(root, meta_dir=REAL_META)
    assert len(intended.records) == len(sample)
    assert all(r.meta.get("sex") in ("Male", "Female") for r in intended.records)
    voice = load_cremad(root, label_source="voice", meta_dir=REAL_META)
    assert 0 < len(voice.records) <= len(sample)
    agree = np.mean([r.label == r.meta["intended"] for r in voice.records])
    assert 0.2 < agree < 0.9  # the crowd hears the intended emotion less than always (about 42 % overall)
