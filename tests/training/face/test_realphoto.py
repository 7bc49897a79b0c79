"""Starting from the shipped int8 model, real-photo augmentation, and the training-data crop path."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emorec.training.face.photo_augment import PhotoAugment  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "src/emorec/models/face.onnx"


def _faces(n: int = 64, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = cv2.resize(rng.integers(0, 256, (6, 6), dtype=np.uint8), (48, 48), interpolation=cv2.INTER_CUBIC)
        out.append(img)
    return np.stack(out)


@pytest.mark.slow
def test_dequantised_shipped_model_matches_onnx_runtime() -> None:
    import onnxruntime as ort

    from emorec.training.face.models import create_model
    from emorec.training.face.onnx_init import load_onnx_weights

    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    x = ((_faces().astype(np.float32) / 255.0 - 0.5) / 0.5)[:, None]
    model = create_model(card["architecture"], len(card["labels"]))
    names = load_onnx_weights(model, SHIPPED, calibration=torch.from_numpy(x))
    assert "fc" in names and any(n.startswith("stem") for n in names)
    model.eval()
    with torch.no_grad():
        p_torch = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    p_onnx = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert np.abs(p_torch - p_onnx).max() < 0.15  # int8 activations vs float
    assert (p_torch.argmax(1) == p_onnx.argmax(1)).mean() >= 0.9
    # batch statistics in training mode stay close to the eval-mode function
    model.train()
    with torch.no_grad():
        p_train = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    assert (p_train.argmax(1) == p_torch.argmax(1)).mean() >= 0.8


def test_photo_augment_changes_pixels_keeps_shape_and_range() -> None:
    aug = PhotoAugment(jpeg=1.0, blur=1.0, lowres=1.0, noise=1.0, gamma=1.0)
    faces = _faces(16)
    jpeg = aug.jpeg_uint8(faces, np.random.default_rng(0))
    assert jpeg.shape == faces.shape and jpeg.dtype == np.uint8 and not np.array_equal(jpeg, faces)
    x = torch.from_numpy(((faces.astype(np.float32) / 255 - 0.5) / 0.5)[:, None])
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y.abs().max()) <= 1.5 and not torch.equal(x, y)
    off = PhotoAugment(jpeg=0, blur=0, lowres=0, noise=0, gamma=0)
    assert torch.equal(off(x), x.clamp(-1.5, 1.5))
    assert np.array_equal(off.jpeg_uint8(faces, np.random.default_rng(0)), faces)


def test_development_metrics_never_augment() -> None:
    """dev_metrics sees the cached crops as they are: two calls give identical numbers."""
    from emorec.training.face.models import create_model
    from emorec.training.face.realphoto import dev_metrics

    rng = np.random.default_rng(1)
    d = {"fer_pub_x": _faces(20, 1), "fer_pub_y": rng.integers(0, 8, 20), "fer_pub_fer13": rng.integers(-1, 7, 20),
         "dev_x": _faces(30, 2), "dev_y": np.arange(30) % 7, "dev_missed_y": np.array([0, 5])}
    labels = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt"]
    model = create_model("emonet-small", 8)
    a, b = dev_metrics(model, d, labels), dev_metrics(model, d, labels)
    assert a == b
    assert 0.0 <= a["expw_dev_pipeline_acc"] <= a["expw_dev_matched_acc"] * 30 / 32 + 1e-9


def test_attach_benchmarks_only_takes_rows_measured_on_this_file(tmp_path: Path) -> None:
    from emorec.cards import ModelCard
    from emorec.training.face.realphoto_export import attach_benchmarks

    card = ModelCard(name="m", task="face", labels=["happy", "sad"], input={"size": [48, 48]}, onnx_sha256="abc")
    path = card.save(tmp_path / "m.json")
    row = {"system": "emorec", "dataset": "ExpW development photos", "protocol": "whole pipeline", "n": 10,
           "accuracy": {"value": 0.4}, "detection_recall": 0.95}
    results = tmp_path / "results"
    results.mkdir()
    (results / "face_photos.json").write_text(json.dumps(
        {"command": "python benchmarks/face_photos.py", "figures": {"model_sha256": "other", "rows": [row]}}))
    with pytest.raises(RuntimeError, match="another model"):
        attach_benchmarks(path, results)
    (results / "face_photos.json").write_text(json.dumps(
        {"command": "python benchmarks/face_photos.py", "figures": {"model_sha256": "abc", "rows": [row]}}))
    rows = attach_benchmarks(path, results)
    key = "emorec: ExpW development photos (whole pipeline)"
    assert rows[key]["accuracy"] == {"value": 0.4}
    assert ModelCard.load(path).metrics["benchmarks"][key]["detection_recall"] == 0.95


def _tiny_cache(path: Path) -> Path:
    labels = json.loads(SHIPPED.with_suffix(".json").read_text())["labels"]
    k = len(labels)
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, 40)
    meta = {"labels": labels, "crop": {"size": [48, 48]}, "detector": "test"}
    np.savez(path, meta=json.dumps(meta), fer_train_x=_faces(40), fer_train_y=y,
             fer_train_dist=np.eye(k, dtype=np.float32)[y], fer_train_fer13=np.where(y < 7, y, -1),
             expw_x=_faces(8, 1), expw_y=rng.integers(0, 7, 8), fer_pub_x=_faces(8, 2), fer_pub_y=rng.integers(0, k, 8),
             fer_pub_fer13=rng.integers(0, 7, 8), dev_x=_faces(6, 3), dev_y=rng.integers(0, 7, 6),
             dev_missed_y=rng.integers(0, 7, 2))
    return path


@pytest.mark.slow
def test_warm_restart_starts_from_the_given_weights_and_epoch_items_caps_an_epoch(tmp_path: Path, capsys) -> None:
    from safetensors.torch import load_file

    from emorec.training.face.realphoto import RealPhotoConfig, train

    cache = _tiny_cache(tmp_path / "cache.npz")
    common = dict(data=str(cache), init_onnx=str(SHIPPED), batch_size=8, warmup_steps=1, expw_repeat=1, threads=1)
    parent = train(RealPhotoConfig(out=str(tmp_path / "parent"), epochs=1, **common))
    child = train(RealPhotoConfig(out=str(tmp_path / "child"), epochs=1, epoch_items=16,
                                  init_weights=str(parent / "epoch_01.safetensors"), **common))
    hist = [json.loads(line) for line in (child / "history.jsonl").read_text().splitlines()]
    parent_end = json.loads((parent / "history.jsonl").read_text().splitlines()[-1])
    # The restart's epoch-0 scores are the parent's last epoch: the weights really came from the file.
    assert {k: hist[0][k] for k in ("ferplus_public_acc", "expw_dev_matched_acc")} == \
        {k: parent_end[k] for k in ("ferplus_public_acc", "expw_dev_matched_acc")}
    log = capsys.readouterr().out
    assert "epoch 1 step 0/6 " in log and "epoch 1 step 0/2 " in log  # 48 items / batch 8, then capped at 16
    w0, w1 = load_file(str(parent / "epoch_01.safetensors")), load_file(str(child / "epoch_01.safetensors"))
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
