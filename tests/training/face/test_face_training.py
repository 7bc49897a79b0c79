"""Trainer and face training pipeline: learn, resume, k-fold run dirs, export, shipped model."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emorec.training.config import load_config  # noqa: E402
from emorec.training.face.train import FaceTrainConfig, run_training  # noqa: E402

PATTERNS = {"happy": 0, "sad": 1, "surprise": 2}

pytestmark = pytest.mark.slow  # torch training runs (real and synthetic data)


def _face(kind: int, rng: np.random.Generator) -> np.ndarray:
    """48x48 images whose class is a visible shape, so a tiny model learns them fast."""
    img = rng.integers(60, 110, (48, 48)).astype(np.uint8)
    if kind == 0:
        cv2.circle(img, (24, 24), 14, 250, -1)
    elif kind == 1:
        cv2.rectangle(img, (8, 8), (40, 40), 250, -1)
    else:
        cv2.line(img, (0, 0), (47, 47), 250, 6)
    return img


def _ck_like(root: Path, subjects: int = 12, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for s in range(subjects):
        for label, kind in PATTERNS.items():
            for frame in range(per_class):
                path = root / label / f"S{s:03d}_001_{frame:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), _face(kind, rng))
    return root


def _cfg(tmp_path: Path, **kw) -> FaceTrainConfig:
    base = dict(dataset="ckplus48", data=str(_ck_like(tmp_path / "ck")), model="emonet-small", epochs=4,
                batch_size=16, lr=3e-3, device="cpu", patience=0, warmup_epochs=1, out=str(tmp_path / "run"))
    base.update(kw)
    return FaceTrainConfig(**base)


def test_subject_kfold_run_learns_and_writes_a_complete_run_dir(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, protocol="subject-kfold", folds=3, val_fraction=0.0)
    metrics = run_training(cfg)
    out = Path(cfg.out)
    assert metrics["pooled"]["n"] == 12 * 3 * 3
    assert metrics["pooled"]["accuracy"] > 0.8  # chance is 1/3
    for fold in ("fold_01", "fold_02", "fold_03"):
        assert (out / fold / "history.jsonl").is_file()
        fold_metrics = json.loads((out / fold / "metrics.json").read_text())
        test_subjects = set(np.load(out / fold / "predictions.npz")["groups"].tolist())
        assert fold_metrics["n"] == len(np.load(out / fold / "predictions.npz")["y_true"])
        assert test_subjects  # subjects recorded for per-subject reports
    preds = np.load(out / "predictions.npz")
    assert preds["probs"].shape == (108, 3)
    reloaded = load_config(FaceTrainConfig, out / "config.yaml")  # --config reproduces the run
    assert reloaded.protocol == "subject-kfold" and reloaded.seed == cfg.seed


def test_resume_continues_from_the_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, protocol="random", epochs=2, val_fraction=0.2)
    run_training(cfg)
    history = (Path(cfg.out) / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    cfg.epochs = 3
    run_training(cfg, resume=True)
    history = [json.loads(x) for x in (Path(cfg.out) / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_export_gives_onnx_and_card_that_match_torch(tmp_path: Path) -> None:
    from emorec.runtime import OnnxModel
    from emorec.training.face.evaluate import predict_crops
    from emorec.training.face.export import export_face
    from emorec.training.face.train import load_run_model

    cfg = _cfg(tmp_path, protocol="random", epochs=2, val_fraction=0.2)
    run_training(cfg)
    onnx_path = export_face(Path(cfg.out), tmp_path / "model.onnx", name="t")
    model = OnnxModel.load(onnx_path)
    assert model.labels == ["happy", "sad", "surprise"]
    assert model.card.input["size"] == [48, 48] and model.card.training["protocol"] == "random"
    crops = np.stack([_face(k, np.random.default_rng(k)) for k in (0, 1, 2)])
    probs = predict_crops(model, crops)
    torch_model, _ = load_run_model(cfg.out)
    x = torch.from_numpy((crops[:, None].astype(np.float32) / 255 - 0.5) / 0.5)
    with torch.no_grad():
        expected = torch.softmax(torch_model(x), 1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-4)


@pytest.mark.data
def test_short_real_ckplus48_run_learns(shared_data: Path, tmp_path: Path) -> None:
    """One subject-independent CK+48 fold from scratch, a few CPU epochs: well above chance."""
    cfg = FaceTrainConfig(dataset="ckplus48", data=str(shared_data), protocol="subject-kfold", folds=5,
                          only_folds=[1], val_fraction=0.0, model="emonet-small", epochs=8, batch_size=32,
                          lr=3e-3, warmup_epochs=1, patience=0, device="cpu", out=str(tmp_path / "ck"))
    metrics = run_training(cfg)
    pooled = metrics["pooled"]
    majority = max(pooled["per_class"][c]["support"] for c in pooled["labels"]) / pooled["n"]
    assert pooled["accuracy"] > majority + 0.2  # majority-class share of this fold is ~25 %


# The shipped model's FER2013 / FER+ accuracy floors live in tests/face/test_shipped_model_real.py
# (evaluate_onnx is exercised there through the same path).
