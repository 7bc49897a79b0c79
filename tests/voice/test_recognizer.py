"""VoiceEmotionRecognizer on a synthetic ONNX model: files, arrays, timelines, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emorec.errors import EmorecError, InputError
from emorec.voice.recognizer import VoiceEmotionRecognizer, VoiceResult

from emorec.testing import RAVDESS_LABELS, make_voice_model, speech_like, with_pauses, write_audio

KEYS = {"path", "label", "score", "scores", "segments", "error"}


def check_result(r: VoiceResult, labels=RAVDESS_LABELS) -> None:
    d = r.to_dict()
    assert set(d) == KEYS
    json.dumps(d)
    assert set(d["scores"]) == set(labels) and abs(sum(d["scores"].values()) - 1) < 1e-4
    assert d["label"] == max(d["scores"], key=d["scores"].get)
    for s in d["segments"]:
        assert set(s) == {"start", "end", "label", "score", "scores"} and 0 <= s["start"] < s["end"]
        assert s["score"] == pytest.approx(s["scores"][s["label"]], abs=1e-6)


def test_short_file_is_one_utterance(tmp_path, tiny_model):
    x = np.r_[np.zeros(8000), speech_like(2.0), np.zeros(8000)].astype(np.float32)
    path = write_audio(tmp_path / "clip.wav", x)
    r = VoiceEmotionRecognizer(tiny_model).predict(path)
    check_result(r)
    assert r.path == str(path) and r.error is None and len(r.segments) == 1
    assert 0.3 < r.segments[0].start < 0.55 and 2.45 < r.segments[0].end < 2.7


def test_array_with_rate_equals_file(tmp_path, tiny_model):
    rec = VoiceEmotionRecognizer(tiny_model)
    x = speech_like(2.0, sr=22050)
    from_array = rec.predict(x, sample_rate=22050)
    from_file = rec.predict(write_audio(tmp_path / "a.wav", x, 22050))
    assert from_array.label == from_file.label
    assert all(abs(from_array.scores[k] - from_file.scores[k]) < 1e-3 for k in RAVDESS_LABELS)
    ints = rec.predict((x * 32767).astype(np.int16), sample_rate=22050)
    assert ints.label == from_array.label
    stereo = rec.predict(np.stack([x, x]), sample_rate=22050)  # (channels, samples)
    assert stereo.label == from_array.label
    with pytest.raises(InputError, match="sample rate"):
        rec.predict(x)


def test_long_recording_gets_a_timeline(tmp_path, tiny_model):
    x, times = with_pauses([2.0, 3.0, 1.5, 7.0], pause=1.2)
    path = write_audio(tmp_path / "talk.flac", x)
    r = VoiceEmotionRecognizer(tiny_model, vad="energy").predict(path)
    check_result(r)
    assert len(r.segments) == 5  # 7 s of speech is cut into 5 s + 2 s
    assert all(s.end - s.start <= 5.0 + 1e-6 for s in r.segments)
    assert r.segments[0].start == pytest.approx(times[0][0], abs=0.3)
    # The file's scores are the duration-weighted mean of the segments'.
    w = np.array([s.end - s.start for s in r.segments])
    mean = sum(wi * np.array([s.scores[k] for k in RAVDESS_LABELS]) for wi, s in zip(w, r.segments)) / w.sum()
    assert np.allclose(mean, [r.scores[k] for k in RAVDESS_LABELS], atol=1e-5)


def test_too_short_is_an_empty_result_with_reason(tmp_path, tiny_model):
    x = np.r_[np.zeros(8000), speech_like(0.2), np.zeros(8000)].astype(np.float32)
    r = VoiceEmotionRecognizer(tiny_model).predict(write_audio(tmp_path / "blip.wav", x))
    assert r.label is None and r.score is None and r.segments == [] and "too short" in r.error
    assert set(r.to_dict()) == KEYS


def test_long_recording_without_speech(tmp_path, tiny_model):
    x = (0.002 * np.random.default_rng(0).normal(size=16000 * 12)).astype(np.float32)
    r = VoiceEmotionRecognizer(tiny_model, vad="energy").predict(write_audio(tmp_path / "room.wav", x))
    assert r.label is None and r.error == "no speech detected"


@pytest.mark.parametrize("kind", ["empty", "silent", "text", "truncated"])
def test_bad_files_raise_one_line(tmp_path, tiny_model, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "silent":
        write_audio(path, np.zeros(32000, np.float32))
    elif kind == "text":
        path.write_text("hello " * 50)
    else:
        data = write_audio(tmp_path / "full.wav", speech_like(2.0)).read_bytes()
        path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError) as err:
        VoiceEmotionRecognizer(tiny_model).predict(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_long_silent_file_streams_and_says_silent(tmp_path, tiny_model):
    path = write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 15, np.float32))
    with pytest.raises(InputError, match="silent"):
        VoiceEmotionRecognizer(tiny_model, vad="energy").predict(path)


def test_batch_carries_on(tmp_path, tiny_model):
    good = write_audio(tmp_path / "good.wav", speech_like(1.5))
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    results = VoiceEmotionRecognizer(tiny_model).predict_batch([bad, good, tmp_path / "missing.wav"])
    assert [r.label is not None for r in results] == [False, True, False]
    assert "not a readable audio file" in results[0].error and "not found" in results[2].error


def test_logit_models_and_wrong_task(tmp_path):
    path = make_voice_model(tmp_path / "logits.onnx", probabilities=False)
    r = VoiceEmotionRecognizer(path).predict(speech_like(1.5), sample_rate=16000)
    check_result(r)
    card = json.loads(path.with_suffix(".json").read_text())
    card["task"] = "face"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(EmorecError, match="not a voice model"):
        VoiceEmotionRecognizer(path)


def test_a_model_with_a_longest_input_never_gets_more(tmp_path):
    """A card's input.max_input_seconds (Whisper's 30 s): classify says so in one line, predict segments."""
    path = make_voice_model(tmp_path / "short.onnx", max_seconds=2.0, max_input_seconds=3.0)
    rec = VoiceEmotionRecognizer(path, vad="energy", single_seconds=10.0)
    assert rec.single_seconds == 3.0  # a longer recording is segmented, never given whole
    long, _ = with_pauses([1.5, 1.5, 1.5], pause=0.6)
    with pytest.raises(InputError, match=r"longer than this model takes \(3 s\): use predict\(\)"):
        rec.classify(long)
    r = rec.predict(long, sample_rate=16000)
    assert r.label is not None and len(r.segments) >= 2
    card = json.loads(path.with_suffix(".json").read_text())
    card["input"]["max_input_seconds"] = 1.0  # shorter than its own segments: a broken card
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(EmorecError, match="max_input_seconds"):
        VoiceEmotionRecognizer(path)


def test_inference_imports_neither_torch_nor_librosa(tmp_path, tiny_model):
    clip = write_audio(tmp_path / "c.wav", with_pauses([1.0, 6.5], pause=1.0)[0])
    code = (
        "import sys\n"
        "from emorec.voice.recognizer import VoiceEmotionRecognizer\n"
        f"r = VoiceEmotionRecognizer({str(tiny_model)!r}).predict({str(clip)!r})\n"
        "assert r.label is not None and len(r.segments) >= 2, r\n"
        "bad = [m for m in ('torch', 'librosa', 'silero_vad') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc for VmHWM")
def test_memory_is_flat_for_long_files(tmp_path, tiny_model):
    """Streaming: peak RSS for 10 minutes of audio stays close to that for 1 minute.

    VmHWM (not ru_maxrss, which Linux carries over from the forking parent) of a fresh process.
    """
    def peak_for(minutes: int) -> int:
        x, _ = with_pauses([3.0] * (minutes * 15), pause=1.0)
        path = write_audio(tmp_path / f"m{minutes}.wav", x[: 16000 * 60 * minutes], subtype="PCM_16")
        del x
        code = (
            "from emorec.voice.recognizer import VoiceEmotionRecognizer\n"
            f"r = VoiceEmotionRecognizer({str(tiny_model)!r}, vad='energy').predict({str(path)!r})\n"
            "assert len(r.segments) > 5\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.strip().splitlines()[-1])

    one, ten = peak_for(1), peak_for(10)
    # 10 minutes of float32 at 16 kHz is 38 MB; streaming must not hold it.
    assert ten - one < 20 * 1024, (one, ten)


def test_one_recognizer_serves_many_threads(tmp_path, tiny_model):
    from concurrent.futures import ThreadPoolExecutor

    files = [write_audio(tmp_path / f"t{i}.wav", with_pauses([2.0, 4.0 + i, 1.5], pause=1.0, seed=i)[0]) for i in range(4)]
    rec = VoiceEmotionRecognizer(tiny_model)  # silero when installed: its state must be per recording
    sequential = [rec.predict(f).to_dict() for f in files]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda f: rec.predict(f).to_dict(), files * 2))
    assert parallel == sequential * 2
