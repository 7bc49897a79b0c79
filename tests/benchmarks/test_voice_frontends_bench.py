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
    res = vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "groups", fuse=fuse)
    alone, fused = res["plain"]["b"], res["fused"]["b"]
    assert alone["metrics"]["accuracy"] > 0.8
    assert fused["metrics"]["accuracy"] < alone["metrics"]["accuracy"]  # the stubborn branch pulls it down
    assert vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "groups")["fused"] is None


def test_whisper_states_are_chosen_on_the_training_side_only():
    """The informative state is found by the inner splits; the test corpus cannot change the choice."""
    from emorec.training.voice.whisper import N_STATES, choose_layers

    rng = np.random.default_rng(1)
    n, width = 90, 8
    y = np.arange(n) % 3
    per = rng.standard_normal((n, N_STATES, width))
    per[:, 4] += 3.0 * y[:, None]  # only state 4 carries the class
    corpus = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 30)
    groups = np.array([f"{c}{i % 5}" for i, c in enumerate(corpus)])
    train = np.arange(60)
    layers, C, table = choose_layers(per.reshape(n, -1), y, corpus, groups, train, "corpus", n_jobs=1,
                                     width=width)
    assert 4 in layers and table["L4"] > 0.9 and table["L1"] < 0.7
    scrambled = per.copy()
    scrambled[60:] = rng.standard_normal((30, N_STATES, width))  # the held-out corpus is noise
    assert choose_layers(scrambled.reshape(n, -1), y, corpus, groups, train, "corpus", n_jobs=1,
                         width=width)[:2] == (layers, C)


def test_only_keeps_the_other_front_ends_rows(tmp_path, monkeypatch):
    import json

    old = {"command": "python benchmarks/voice_frontends.py", "versions": {"commit": "abc"},
           "figures": {"rows": [{"frontend": "resemblyzer"}, {"frontend": "bigru|whisper"},
                                {"frontend": "resemblyzer+crepe"}], "real_time_factor": {"crepe": 0.1}}}
    (tmp_path / "voice_frontends.json").write_text(json.dumps(old))
    monkeypatch.setattr(common, "results_dir", lambda: tmp_path)
    new = {"rows": [{"frontend": "whisper"}], "real_time_factor": {"whisper": 0.05}}
    merged = vf.merge_previous(new, {"whisper"})
    assert [r["frontend"] for r in merged["rows"]] == ["resemblyzer", "resemblyzer+crepe", "whisper"]
    assert merged["rows"][0]["made_by"] == {"commit": "abc", "command": "python benchmarks/voice_frontends.py"}
    assert merged["real_time_factor"] == {"crepe": 0.1, "whisper": 0.05}


def test_channel_copies_join_the_training_side_only(monkeypatch):
    from emorec.training.voice import fused as fused_mod

    rng = np.random.default_rng(2)
    n = 60
    y = np.arange(n) % 3
    X = rng.standard_normal((n, 4)) + 2.0 * y[:, None]
    augmented = X + 100.0 * (np.arange(n) + 1)[:, None]  # every copy recognisable by its offset
    corpus = np.array(["a"] * 30 + ["b"] * 30)
    groups = np.array([f"s{(i // 3) % 6}" for i in range(n)])
    idx = np.arange(n)
    tr, te = idx[corpus == "a"], idx[corpus == "b"]
    seen: list[np.ndarray] = []
    real_fit = fused_mod.fit_head
    monkeypatch.setattr(fused_mod, "fit_head", lambda Xf, yf, w, C, corpus=None: seen.append(Xf)
                        or real_fit(Xf, yf, w, C, corpus))
    vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "groups", augmented=augmented)
    final = seen[-1]  # the inner splits choose C on clean clips; the last fit is the final head
    assert len(final) == 2 * len(tr)
    assert all(any(np.allclose(row, augmented[i]) for row in final) for i in tr)
    assert not any(np.allclose(row, augmented[i]) for row in final for i in te)
    assert all(len(s) < len(tr) for s in seen[:-1])  # inner fits: clean training-side clips only


def test_each_test_corpus_is_scored_over_its_own_classes():
    rng = np.random.default_rng(3)
    n = 90
    y = np.arange(n) % 3
    corpus = np.array(["a"] * 45 + ["c"] * 45)
    y[corpus == "c"] = np.arange(45) % 2  # corpus c has classes 0 and 1 only
    X = rng.standard_normal((n, 4))  # uninformative: without the restriction class 2 would appear
    groups = np.array([f"{c}{i % 5}" for i, c in enumerate(corpus)])
    folds = [(np.arange(n)[groups != g], np.arange(n)[groups == g]) for g in ("a0", "c1")]
    train = np.arange(n)[groups != "a0"]
    assert set(corpus[folds[0][1]]) == {"a"} and len(set(y[train])) == 3
    res = vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(np.arange(n)[~np.isin(groups, ["a0", "c1"])],
                                                                np.arange(n)[np.isin(groups, ["a0", "c1"])])],
                      "groups")
    assert set(res["plain"]) == {"a", "c"}
    assert res["plain"]["c"]["metrics"]["labels"] == ["x", "y"]  # scored over corpus c's two classes
    assert res["plain"]["a"]["metrics"]["labels"] == ["x", "y", "z"]


@pytest.mark.parametrize("masked", [False, True])
def test_masked_rows_mask_every_head_inner_and_final(monkeypatch, masked):
    from emorec.training.voice import fused as fused_mod

    rng = np.random.default_rng(4)
    n = 90
    corpus = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 30)
    y = np.arange(n) % 3
    y[corpus == "c"] = np.arange(30) % 2  # corpus c lacks class 2
    X = rng.standard_normal((n, 4)) + y[:, None]
    groups = np.array([f"{c}{i % 5}" for i, c in enumerate(corpus)])
    idx = np.arange(n)
    tr, te = idx[corpus != "a"], idx[corpus == "a"]
    calls: list[tuple[int, np.ndarray | None]] = []
    real_fit = fused_mod.fit_head
    monkeypatch.setattr(fused_mod, "fit_head", lambda Xf, yf, w, C, corpus=None: calls.append((len(Xf), corpus))
                        or real_fit(Xf, yf, w, C, corpus))
    vf.evaluate(X, y, corpus, groups, ["x", "y", "z"], [(tr, te)], "corpus", masked=masked)
    assert calls and calls[-1][0] == len(tr)  # the final head on the whole training side
    for size, c in calls:
        assert (c is not None) == masked
        if masked:
            assert len(c) == size and "a" not in set(c.tolist())  # the held-out corpus never takes part
