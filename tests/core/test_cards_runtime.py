"""Typed model cards validated at load, checksum and providers at load, the packaged-model registry."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emorec.cards import FaceInput, ModelCard, VoiceInput
from emorec.errors import ModelError, UsageError
from emorec.paths import PACKAGE_MODELS
from emorec.runtime import MODELS, OnnxModel, packaged_models, resolve_providers
from emorec.testing import make_face_model, make_voice_model


def test_shipped_cards_are_typed_and_round_trip() -> None:
    for task, kind in (("face", FaceInput), ("voice", VoiceInput)):
        path = PACKAGE_MODELS / f"{task}.json"
        card = ModelCard.load(path)
        assert isinstance(card.input, kind)
        raw = json.loads(path.read_text())
        back = card.to_dict()
        assert set(back) == set(raw)
        for key, value in raw["input"].items():  # same values under the same (or the unified) key
            assert back["input"]["weights" if key == "quantization" else key] == value
    face = ModelCard.load(PACKAGE_MODELS / "face.json")
    assert face.input["size"] == list(face.input.size) and face.input.crop_spec().size == tuple(face.input.size)
    voice = ModelCard.load(PACKAGE_MODELS / "voice.json")
    assert voice.input.feature_config().sample_rate == voice.input.sample_rate == 16000


@pytest.mark.parametrize(
    "section, fragment",
    [
        ({"size": [48]}, "input.size"),
        ({"std": 0}, "non-zero"),
        ({"interpolation": "cubic"}, "interpolation"),
        ({"crop": {"margin": 5.0}}, "margin"),
    ],
)
def test_bad_face_input_fails_at_load(tmp_path, section, fragment) -> None:
    path = make_face_model(tmp_path / "m.onnx", input_spec=section)
    with pytest.raises(ModelError, match=fragment):
        ModelCard.load(path.with_suffix(".json"))


def test_bad_voice_input_fails_at_load(tmp_path) -> None:
    path = make_voice_model(tmp_path / "v.onnx")
    card = json.loads(path.with_suffix(".json").read_text())
    card["input"]["features"]["kind"] = "wavelets"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="wavelets"):
        ModelCard.load(path.with_suffix(".json"))


def test_legacy_quantization_key_reads_as_weights() -> None:
    spec = FaceInput.from_dict({"size": [48, 48], "quantization": "int8"})
    assert spec.weights == "int8" and spec.to_dict() == {"size": [48, 48], "weights": "int8"}
    assert dict(spec) == spec.to_dict() and spec.get("missing", 1) == 1


def test_checksum_mismatch_is_refused(tmp_path) -> None:
    path = make_face_model(tmp_path / "m.onnx")
    OnnxModel.load(path)  # matches
    other = make_face_model(tmp_path / "other.onnx", seed=1)
    path.write_bytes(other.read_bytes())  # a different model under the old card
    with pytest.raises(ModelError, match="onnx_sha256"):
        OnnxModel.load(path)


def test_providers_option() -> None:
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
    assert resolve_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(UsageError, match="unknown providers"):
        resolve_providers("tpu")
    with pytest.raises(UsageError, match="not available"):
        resolve_providers(["NoSuchExecutionProvider"])
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(UsageError, match="no CUDA provider"):
            resolve_providers("cuda")


def test_packaged_models_registry_and_models_list() -> None:
    assert {"face", "voice"} <= set(MODELS.list())
    found = {m.name: m for m in packaged_models()}
    assert found["face"].card is not None and found["face"].card.task == "face"
    proc = subprocess.run([sys.executable, "-m", "emorec.cli", "models", "list"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("face: ") and "labels" in line for line in lines)
    assert any(line.startswith("voice: ") for line in lines)
    proc = subprocess.run([sys.executable, "-m", "emorec.cli", "models", "list", "--json"], capture_output=True,
                          text=True, timeout=120)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    voice = next(r for r in rows if r["name"] == "voice")
    assert voice["task"] == "voice" and voice["labels"] == found["voice"].card.labels
