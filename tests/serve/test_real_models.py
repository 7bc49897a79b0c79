"""The API with the real recognisers (synthetic test models): same answers as the CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers import EXAMPLE_PHOTO, make_voice_model, photo_with_face, speech_like, wav_bytes


@pytest.fixture(scope="module")
def voice_model(tmp_path_factory) -> Path:
    return make_voice_model(tmp_path_factory.mktemp("serve_voice") / "voice.onnx")


@pytest.fixture
def real_client(make_client, synthetic_face_model, voice_model):
    with make_client(face_model=str(synthetic_face_model), voice_model=str(voice_model), threads=2) as c:
        assert c.get("/readyz").status_code == 200, c.get("/readyz").text
        yield c


def cli_json(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "emorec.cli", *args, "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[0])


def assert_close(a, b, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=2e-5), path
    else:
        assert a == b, path


def test_face_answer_equals_cli_json(real_client, synthetic_face_model):
    assert EXAMPLE_PHOTO.is_file(), "examples/astronaut.jpg missing: run python examples/make_examples.py"
    r = real_client.post("/v1/face", files={"file": ("astronaut.jpg", EXAMPLE_PHOTO.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    api = r.json()
    cli = cli_json("face", "predict", str(EXAMPLE_PHOTO), "--model", str(synthetic_face_model))
    assert api["path"] == "astronaut.jpg"
    assert len(api["faces"]) >= 1
    assert_close({**api, "path": None}, {**cli, "path": None})


def test_face_scores_are_probabilities(real_client):
    r = real_client.post("/v1/face", files={"file": ("p.jpg", photo_with_face(640, 480), "image/jpeg")})
    face = r.json()["faces"][0]
    assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert face["label"] == max(face["scores"], key=face["scores"].get)


def test_face_exif_orientation_is_applied(real_client):
    """A phone photo stored sideways with an EXIF rotation tag gives the upright photo's boxes."""
    from PIL import Image

    upright = Image.open(EXAMPLE_PHOTO).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor wrote it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf_rot, buf_up = io.BytesIO(), io.BytesIO()
    stored.save(buf_rot, "JPEG", quality=95, exif=exif)
    upright.save(buf_up, "JPEG", quality=95)
    rotated = real_client.post("/v1/face", files={"file": ("phone.jpg", buf_rot.getvalue())}).json()
    plain = real_client.post("/v1/face", files={"file": ("plain.jpg", buf_up.getvalue())}).json()
    assert len(plain["faces"]) == 1 and len(rotated["faces"]) == 1
    # Same place up to JPEG re-encoding noise; unrotated, the face would lie on its side elsewhere.
    assert np.abs(np.subtract(rotated["faces"][0]["box"], plain["faces"][0]["box"])).max() <= 6


def test_face_models_endpoint_shows_the_card(real_client, synthetic_face_model):
    from emorec.cards import ModelCard

    models = {m["task"]: m for m in real_client.get("/v1/models").json()["models"]}
    card = ModelCard.load(synthetic_face_model.with_suffix(".json"))
    assert models["face"]["card"]["name"] == card.name == "serve-test-face"
    assert models["face"]["labels"] == card.labels
    assert models["voice"]["card"]["input"]["sample_rate"] == 16000


def test_voice_answer_equals_cli_json(real_client, voice_model, tmp_path):
    clip = tmp_path / "talk.wav"
    clip.write_bytes(wav_bytes(speech_like(3.0, sr=22050), sr=22050))
    r = real_client.post("/v1/voice", files={"file": ("talk.wav", clip.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    api = r.json()
    assert api["path"] == "talk.wav" and api["label"] and api["error"] is None
    cli = cli_json("voice", "predict", str(clip), "--model", str(voice_model))
    assert_close({**api, "path": None}, {**cli, "path": None})


def test_voice_silent_recording_is_explained(real_client):
    r = real_client.post("/v1/voice", files={"file": ("quiet.wav", wav_bytes(np.zeros(48000, np.float32)))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"] is None and body["segments"] == []
    assert "silent" in body["error"] and body["error"].startswith("quiet.wav")


def test_voice_too_short_speech_is_explained(real_client):
    r = real_client.post("/v1/voice", files={"file": ("short.wav", wav_bytes(speech_like(0.3)))})
    assert r.status_code == 200
    assert r.json()["label"] is None and "short" in r.json()["error"]


def test_voice_long_recording_has_a_timeline_schema(real_client):
    audio = np.concatenate([speech_like(4.0), np.zeros(16000, np.float32), speech_like(4.0, seed=2)])
    r = real_client.post("/v1/voice", files={"file": ("long.wav", wav_bytes(audio))})
    assert r.status_code == 200, r.text
    body = r.json()
    for seg in body["segments"]:
        assert 0.0 <= seg["start"] < seg["end"] <= 9.01
        assert set(seg) >= {"start", "end", "label", "score", "scores"}
    assert (body["label"] is None) == (body["segments"] == [])


def _card_labels(model: Path) -> list[str]:
    return json.loads(model.with_suffix(".json").read_text())["labels"]


def test_face_labels_query_equals_cli_labels(real_client, synthetic_face_model):
    wanted = ",".join(_card_labels(synthetic_face_model)[:3])
    r = real_client.post(f"/v1/face?labels={wanted}",
                         files={"file": ("astronaut.jpg", EXAMPLE_PHOTO.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    api = r.json()
    assert set(api["faces"][0]["scores"]) == set(wanted.split(","))
    assert sum(api["faces"][0]["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    cli = cli_json("face", "predict", str(EXAMPLE_PHOTO), "--model", str(synthetic_face_model), "--labels", wanted)
    assert_close({**api, "path": None}, {**cli, "path": None})


def test_voice_labels_query_equals_cli_labels_over_a_timeline(real_client, voice_model, tmp_path):
    wanted = ",".join(_card_labels(voice_model)[1:3])
    clip = tmp_path / "long.wav"
    from emorec.testing.media import with_pauses

    clip.write_bytes(wav_bytes(with_pauses([3.0, 3.0, 3.0])[0]))
    r = real_client.post(f"/v1/voice?labels={wanted}", files={"file": ("long.wav", clip.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    api = r.json()
    assert len(api["segments"]) >= 2 and set(api["scores"]) == set(wanted.split(","))
    cli = cli_json("voice", "predict", str(clip), "--model", str(voice_model), "--labels", wanted)
    assert_close({**api, "path": None}, {**cli, "path": None})


def test_a_label_the_model_lacks_is_a_422(real_client):
    r = real_client.post("/v1/face?labels=happy,nosuch", files={"file": ("p.jpg", photo_with_face(320, 240))})
    assert r.status_code == 422 and r.json()["error"] == "bad_labels"
    assert "nosuch" in r.json()["detail"]
    r = real_client.post("/v1/voice?labels=sad", files={"file": ("v.wav", wav_bytes(speech_like(2.0)))})
    assert r.status_code == 422 and "at least two" in r.json()["detail"]
