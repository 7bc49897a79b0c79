"""EMOVO, URDU, EmoDB, TESS, JL-Corpus loaders and CREMA-D's MP3/FLV layouts, on synthetic files with real names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emorec.datasets import cremad, emodb, emovo, jlcorpus, tess, urdu
from emorec.errors import DatasetError
from emorec.labels import EMOTIONS


def _clip(path: Path, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.1 * np.sin(np.arange(int(16000 * seconds)) / 7)).astype(np.float32), 16000,
             format="FLAC" if path.suffix == ".flac" else "WAV")
    return path


def test_emovo_names_speakers_and_label_map(tmp_path):
    root = tmp_path / "emovo"
    names = ["f1/dis-f1-b1", "f1/gio-f1-n3", "m2/neu-m2-l4", "m2/pau-m2-d2", "m3/rab-m3-b3", "f3/sor-f3-n5",
             "f3/tri-f3-l1"]
    for n in names:
        _clip(root / f"{n}.flac")
    _clip(root / "f1" / "notes.flac")
    _clip(root / "f1" / "xxx-f1-b1.flac")
    scan = emovo.load_emovo(root)
    got = {r.path.stem: (r.label, r.speaker, r.meta["sex"]) for r in scan.records}
    assert got == {
        "dis-f1-b1": ("disgust", "emovo:f1", "female"), "gio-f1-n3": ("happy", "emovo:f1", "female"),
        "neu-m2-l4": ("neutral", "emovo:m2", "male"), "pau-m2-d2": ("fear", "emovo:m2", "male"),
        "rab-m3-b3": ("angry", "emovo:m3", "male"), "sor-f3-n5": ("surprise", "emovo:f3", "female"),
        "tri-f3-l1": ("sad", "emovo:f3", "female"),
    }
    assert sorted(scan.skipped) == ["f1/notes.flac", "f1/xxx-f1-b1.flac"]
    assert set(emovo.EMOVO_CODES.values()) <= set(EMOTIONS)


def test_urdu_speaker_codes_letters_and_folder_conflicts(tmp_path):
    root = tmp_path / "urdu"
    for folder, name in [("Angry", "SM1_F10_A010"), ("Happy", "SF3_F2_H002"), ("Neutral", "SM27_F1_N001"),
                         ("Sad", "SM1_F3_S103"), ("Sad", "SM5_F1_A001")]:
        _clip(root / folder / f"{name}.flac")
    scan = urdu.load_urdu(root)
    got = {r.path.stem: (r.label, r.speaker) for r in scan.records}
    assert got == {"SM1_F10_A010": ("angry", "urdu:SM1"), "SF3_F2_H002": ("happy", "urdu:SF3"),
                   "SM27_F1_N001": ("neutral", "urdu:SM27"), "SM1_F3_S103": ("sad", "urdu:SM1")}
    assert scan.skipped == ["Sad/SM5_F1_A001.flac"]  # letter A inside Sad/: skipped, not guessed
    assert any("disagrees" in n for n in scan.notes)


def test_emodb_names_and_boredom(tmp_path):
    root = tmp_path / "emodb" / "wav"
    for n in ["03a01Fa", "08b10Wb", "16a05Tc", "11b03Ea", "15a02Ab", "09a04Na", "10b01Lb"]:
        _clip(root / f"{n}.wav")
    _clip(root / "99a01Fa.wav")  # no such speaker
    scan = emodb.load_emodb(root.parent)
    got = {r.path.stem: (r.label, r.speaker) for r in scan.records}
    assert got == {"03a01Fa": ("happy", "emodb:03"), "08b10Wb": ("angry", "emodb:08"), "16a05Tc": ("sad", "emodb:16"),
                   "11b03Ea": ("disgust", "emodb:11"), "15a02Ab": ("fear", "emodb:15"),
                   "09a04Na": ("neutral", "emodb:09")}
    assert any("boredom" in n for n in scan.notes)
    assert scan.skipped == ["wav/99a01Fa.wav"]
    kept = emodb.load_emodb(root.parent, boredom="neutral")
    assert {r.path.stem: r.label for r in kept.records}["10b01Lb"] == "neutral"


def test_tess_names_two_speakers_and_duplicates(tmp_path):
    root = tmp_path / "TESS"
    for n in ["OAF_angry/OAF_back_angry", "OAF_Pleasant_surprise/OAF_back_ps", "YAF_sad/YAF_chair_sad",
              "YAF_neutral/YAF_dog_neutral", "YAF_fear/YAF_dog_fear", "copy/YAF_dog_fear"]:
        _clip(root / f"{n}.wav")
    _clip(root / "OAF_back_bored.wav")
    scan = tess.load_tess(root)
    got = {r.path.stem: (r.label, r.speaker) for r in scan.records}
    assert got == {"OAF_back_angry": ("angry", "tess:OAF"), "OAF_back_ps": ("surprise", "tess:OAF"),
                   "YAF_chair_sad": ("sad", "tess:YAF"), "YAF_dog_neutral": ("neutral", "tess:YAF"),
                   "YAF_dog_fear": ("fear", "tess:YAF")}
    assert any("duplicate" in n for n in scan.notes)
    assert scan.skipped == ["OAF_back_bored.wav"]


def test_jlcorpus_primary_secondary_and_mapping(tmp_path):
    root = tmp_path / "jl"
    for n in ["male1_angry_1a_1", "female2_sad_3b_2", "male2_neutral_10a_1", "female1_happy_2a_1",
              "male1_excited_4a_1", "female2_anxious_5b_2", "male2_worried_1a_1"]:
        _clip(root / f"{n}.wav")
    scan = jlcorpus.load_jlcorpus(root)
    got = {r.path.stem: (r.label, r.speaker) for r in scan.records}
    assert got == {"male1_angry_1a_1": ("angry", "jlcorpus:male1"), "female2_sad_3b_2": ("sad", "jlcorpus:female2"),
                   "male2_neutral_10a_1": ("neutral", "jlcorpus:male2"),
                   "female1_happy_2a_1": ("happy", "jlcorpus:female1")}
    assert any("excited 1" in n and "anxious 1" in n for n in scan.notes)
    mapped = jlcorpus.load_jlcorpus(root, {"excited": "happy", "anxious": "fear"})
    labels = {r.path.stem: r.label for r in mapped.records}
    assert labels["male1_excited_4a_1"] == "happy" and labels["female2_anxious_5b_2"] == "fear"


def test_cremad_mp3_and_flv_layouts(tmp_path):
    av = pytest.importorskip("av")
    root = tmp_path / "CREMA-D"
    _clip(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    (root / "AudioMP3").mkdir(parents=True)
    (root / "VideoFlash").mkdir(parents=True)
    x = (0.2 * np.sin(np.arange(16000) / 9)).astype(np.float32)
    for path, fmt, codec in [(root / "AudioMP3" / "1002_DFA_SAD_XX.mp3", "mp3", "libmp3lame"),
                             (root / "VideoFlash" / "1001_DFA_HAP_XX.flv", "flv", "libmp3lame")]:
        with av.open(str(path), "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=16000 if fmt == "mp3" else 44100)
            stream.layout = "mono"
            y = x if fmt == "mp3" else np.interp(np.arange(44100) * 16000 / 44100, np.arange(16000), x).astype(np.float32)
            frame = av.AudioFrame.from_ndarray((y * 32767).astype(np.int16)[None], format="s16", layout="mono")
            frame.sample_rate = stream.rate
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    assert [r.path.name for r in cremad.load_cremad(root).records] == ["1001_DFA_ANG_XX.wav"]  # auto: AudioWAV
    mp3 = cremad.load_cremad(root, layout="mp3").records
    flv = cremad.load_cremad(root, layout="flv").records
    assert [(r.label, r.speaker, r.meta["format"]) for r in mp3] == [("sad", "cremad:1002", "mp3")]
    assert [(r.label, r.speaker, r.meta["format"]) for r in flv] == [("happy", "cremad:1001", "flv")]
    from emorec.voice.audio import read_audio

    assert read_audio(flv[0].path).size == pytest.approx(16000, abs=1200)
    with pytest.raises(DatasetError, match="layout"):
        cremad.load_cremad(root, layout="ogg")


@pytest.mark.data
def test_real_corpora_counts(shared_data):
    e = emovo.load_emovo(shared_data / "emovo")
    u = urdu.load_urdu(shared_data / "urdu")
    assert len(e.records) == 588 and len({r.speaker for r in e.records}) == 6 and not e.skipped
    assert len(u.records) == 400 and len({r.speaker for r in u.records}) == 29 and not u.skipped
    assert {r.label for r in u.records} == {"angry", "happy", "neutral", "sad"}
    for layout, n in (("wav", 12), ("mp3", 6), ("flv", 6)):
        assert len(cremad.load_cremad(shared_data / "crema-d-sample", layout=layout).records) == n
