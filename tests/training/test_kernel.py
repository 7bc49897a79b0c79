"""The shared training kernel: fold loop with resume, run-directory helpers, base config (no training)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emorec.training.folds import fold_specs, run_folds
from emorec.training.rundir import merge_fold_predictions, read_history, read_run_config, summary, write_json


def fake_fold(calls):
    def run_fold(fold, fold_dir):
        calls.append(fold.name)
        (fold_dir / "checkpoint.pt").write_bytes(b"x")
        np.savez_compressed(fold_dir / "predictions.npz", y_true=fold.test, probs=np.ones((len(fold.test), 2)))
        metrics = {"fold": fold.name, "n": len(fold.test)}
        write_json(fold_dir / "metrics.json", metrics)
        return metrics

    return run_fold


def test_fold_loop_resumes_and_keeps_run_dirs_small(tmp_path) -> None:
    idx = np.arange(6)
    folds = fold_specs([(idx[2:], idx[:2]), (idx[np.r_[0:2, 4:6]], idx[2:4]), (idx[:4], idx[4:])])
    calls: list[str] = []
    first = run_folds(tmp_path, folds, fake_fold(calls), only=[1, 3])
    assert calls == ["fold_01", "fold_03"] and [m["fold"] for m in first] == ["fold_01", "fold_03"]
    assert not list(tmp_path.glob("fold_*/checkpoint.pt"))
    calls.clear()
    again = run_folds(tmp_path, folds, fake_fold(calls), resume=True)
    assert calls == ["fold_02"] and [m["fold"] for m in again] == ["fold_01", "fold_02", "fold_03"]
    calls.clear()
    run_folds(tmp_path, folds, fake_fold(calls), resume=True, is_complete=lambda d: d.name != "fold_03")
    assert calls == ["fold_03"]  # a fold that needs more work re-opens
    merge_fold_predictions(tmp_path, sorted(tmp_path.glob("fold_*")))
    with np.load(tmp_path / "predictions.npz") as p:
        assert sorted(p["y_true"].tolist()) == list(range(6))


def test_run_dir_helpers(tmp_path) -> None:
    (tmp_path / "fold_01").mkdir()
    (tmp_path / "config.yaml").write_text("model: gru\nlabels: [a, b]\n")
    assert read_run_config(tmp_path / "fold_01", search_parent=True)["model"] == "gru"
    from emorec.errors import EmorecError

    with pytest.raises(EmorecError, match="is not a voice run directory"):
        read_run_config(tmp_path / "fold_01", kind="voice")
    (tmp_path / "history.jsonl").write_text(json.dumps({"epoch": 1}) + "\n\n" + json.dumps({"epoch": 2}) + "\n")
    assert [h["epoch"] for h in read_history(tmp_path)] == [1, 2] and read_history(tmp_path / "none") == []
    assert "no held-out score" in summary({"trained_on_all": True, "n_train": 3, "speakers": ["a"], "epochs_run": 2})


def test_base_config_feeds_the_trainer() -> None:
    pytest.importorskip("torch")
    from emorec.training.face.train import FaceTrainConfig
    from emorec.training.voice.config import VoiceTrainConfig

    face, voice = FaceTrainConfig(), VoiceTrainConfig()
    assert face.train_config().batch_size == 128 and face.train_config().patience == face.patience
    assert voice.train_config(validate=False).patience == 0 and voice.train_config().lr == 1e-3
