"""Both recognisers satisfy the one contract: task, labels, card, predict(source, name=), predict_batch(errors=)."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.contract import Recognizer
from emorec.errors import InputError
from emorec.results import Segment, weighted_scores
from emorec.testing import speech_like, wav_bytes, write_audio


@pytest.fixture(scope="module")
def voice_rec(tmp_path_factory):
    from emorec.testing import make_voice_model
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    return VoiceEmotionRecognizer(make_voice_model(tmp_path_factory.mktemp("v") / "v.onnx"), vad="energy")


def test_both_recognisers_are_recognizers(recognizer, voice_rec) -> None:
    for rec, task in ((recognizer, "face"), (voice_rec, "voice")):
        assert isinstance(rec, Recognizer)
        assert rec.task == task == rec.card.task
        assert rec.labels == rec.card.labels


def test_face_accepts_path_bytes_and_array(recognizer, example_photo) -> None:
    import cv2

    by_path = recognizer.predict(example_photo)
    by_bytes = recognizer.predict(example_photo.read_bytes(), name="upload.jpg")
    by_array = recognizer.predict(cv2.imread(str(example_photo)))
    assert [f.to_dict() for f in by_path] == [f.to_dict() for f in by_bytes] == [f.to_dict() for f in by_array]
    with pytest.raises(InputError, match="upload.png"):
        recognizer.predict(b"not an image", name="upload.png")


def test_voice_accepts_path_bytes_and_array(voice_rec, tmp_path) -> None:
    x = speech_like(1.5)
    path = write_audio(tmp_path / "a.wav", x)
    by_path = voice_rec.predict(path)
    by_bytes = voice_rec.predict(wav_bytes(x), name="upload.wav")
    by_array = voice_rec.predict(x, sample_rate=16000, name="mic")
    assert by_path.path == str(path) and by_bytes.path == "upload.wav" and by_array.path == "mic"
    assert by_path.scores == pytest.approx(by_bytes.scores, abs=1e-4)
    assert by_path.label == by_array.label
    with pytest.raises(InputError, match="upload.ogg"):
        voice_rec.predict(b"nope", name="upload.ogg")


def test_same_error_policy_on_both_sides(recognizer, voice_rec, example_photo, tmp_path) -> None:
    bad_image = tmp_path / "bad.jpg"
    bad_image.write_bytes(b"nope")
    bad_audio = tmp_path / "bad.wav"
    bad_audio.write_bytes(b"nope")
    good_audio = write_audio(tmp_path / "good.wav", speech_like(1.5))
    with pytest.raises(InputError):
        recognizer.predict_batch([example_photo, bad_image], errors="raise")
    with pytest.raises(InputError):
        voice_rec.predict_batch([good_audio, bad_audio], errors="raise")
    faces = recognizer.predict_batch([bad_image, example_photo], errors="return")
    voices = voice_rec.predict_batch([bad_audio, good_audio], errors="return")
    assert isinstance(faces[0], InputError) and isinstance(faces[1], list)
    assert voices[0].error and voices[0].label is None and voices[1].label is not None
    for rec in (recognizer, voice_rec):
        with pytest.raises(ValueError):
            rec.predict_batch([], errors="ignore")


def test_voice_segments_are_the_shared_segment_type(voice_rec) -> None:
    from emorec.testing import with_pauses

    x, _ = with_pauses([2.0, 6.5], pause=1.0)
    result = voice_rec.predict(x, sample_rate=16000)
    assert result.segments and all(isinstance(s, Segment) for s in result.segments)
    assert set(result.segments[0].to_dict()) == {"start", "end", "label", "score", "scores"}
    mean = weighted_scores(result.segments, voice_rec.labels)
    assert sum(mean.values()) == pytest.approx(1.0, abs=1e-3)
    assert max(mean, key=mean.get) == result.label


def test_weighted_scores_weights_by_duration() -> None:
    segs = [Segment(0, 1, "a", 1.0, {"a": 1.0, "b": 0.0}), Segment(1, 4, "b", 1.0, {"a": 0.0, "b": 1.0})]
    assert weighted_scores(segs, ["a", "b"]) == pytest.approx({"a": 0.25, "b": 0.75})
    assert np.isclose(segs[1].duration, 3.0)
