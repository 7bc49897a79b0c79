"""benchmarks/voice_frontends.py: prerequisites, BiGRU probabilities aligned by path, fusion and the restricted argmax."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml

from benchmarks import common
from benchmarks import voice_frontends as vf
from emorec.datasets.audio_corpus import AudioRecord


def test_missing_frontend_package_is_a_missing_prerequisite(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torchcrepe" else real(name))
    with pytest.raises(common.MissingPrerequisite, match="pip install torchcrepe==0.0.22"):
        vf.check_prerequisites(["logmel_stats", "crepe"])
    vf.check_prerequisites(["logmel_stats"])  # numpy only: nothing to install


def test_bigru_probabilities_follow_paths_and_label_names(tmp_path, monkeypatch):
    run = tmp_path / "benchmarks" / "runs" / "voice_cross" / "base" / "leave-corpus-out"
    (run / "without_x").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"labels": ["sad", "happy", "angry"]}))
    clips = [tmp_path / f"c{i}.wav" for i in range(3)]
    np.savez(run / "without_x" / "predictions.npz", paths=np.array([str(clips[2]), str(clips[0])]),
             probs=np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32))
    monkeypatch.setattr(common, "REPO_ROOT", tmp_path)
    records = [AudioRecord(p, "happy", f"x:{i}", "x") for i, p in enumerate(clips)]
    got = vf.bigru_probs(records, ["angry", "happy", "neutral", "sad"], "leave-corpus-out")
    np.testing.assert_allclose(got[0], [0.6, 0.3, 0.0, 0.1])  # reordered by label name; unknown class 0
    np.testing.assert_allclose(got[2], [0.1, 0.2, 0.0, 0.7])
    assert np.isnan(got[1]).all()  # no prediction for this clip


def test_fusion_averages_over_the_allowed_classes_only():
    rng = np.random.default_rng(0)
    n = 60
    y = np.arange(n) % 3
    X = rng.standard_normal((n, 4)) + 2.0 * y[:, None]
    corpus = np.array(["a"] * 30 + ["b"] * 30)
    groups = np.array([f"s{(i // 3) % 6}" for i in range(n)])  # every speaker has every class
    idx = np.arange(n)
    tr, te = idx[corpus == "a"], idx[corpus == "b"]
    fuse = np.zeros((n, 3))
    fuse[:, 0] = 1.0  # a BiGRU that always says class 0
    alone = vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "groups")
    fused = vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "groups", fuse=fuse)
    assert alone["metrics"]["accuracy"] > 0.8
    assert fused["metrics"]["accuracy"] < alone["metrics"]["accuracy"]  # the stubborn branch pulls it down
