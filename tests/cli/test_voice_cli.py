"""`emorec voice ...` end to end: predict output formats, train/evaluate/export, cache-only training."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from emorec.testing import make_ravdess_folder, speech_like, with_pauses, write_audio

KEYS = {"path", "label", "score", "scores", "segments", "error"}
SMALL = ["--model-kwargs", '{"channels": 16, "hidden": 16, "layers": 1}']


def emorec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emorec.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    write_audio(folder / "a_short.wav", speech_like(1.5))
    write_audio(folder / "b_long.flac", with_pauses([2.0, 6.0], pause=1.0)[0])
    (folder / "c_bad.wav").write_text("not audio")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_predict_json_one_object_per_input(inputs, tiny_model, tmp_path):
    out = emorec("voice", "predict", str(inputs), str(tmp_path / "missing.wav"), "--model", str(tiny_model),
                 "--format", "json", "--vad", "energy", "--csv", str(tmp_path / "t.csv"), "--plot", str(tmp_path / "p.png"))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["path"]).name for r in lines] == ["a_short.wav", "b_long.flac", "c_bad.wav", "missing.wav"]
    for r in lines:
        assert set(r) == KEYS
    assert lines[0]["label"] and len(lines[0]["segments"]) == 1 and lines[0]["error"] is None
    assert len(lines[1]["segments"]) == 3 and lines[1]["segments"][1]["start"] >= 2.5
    assert lines[2]["label"] is None and "not a readable audio file" in lines[2]["error"]
    assert "not found" in lines[3]["error"]
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert [Path(r["path"]).name for r in rows].count("b_long.flac") == 3
    assert {"start", "end", "label", "score", "neutral", "surprise", "note"} <= set(rows[0])
    assert rows[-1]["note"]  # the missing file's row says why
    pngs = sorted(p.name for p in tmp_path.glob("p_*.png"))
    assert pngs == ["p_a_short.png", "p_b_long.png"]
    assert (tmp_path / "p_b_long.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_text_and_exit_codes(inputs, tiny_model, tmp_path):
    ok = emorec("voice", "predict", str(inputs / "a_short.wav"), str(inputs / "c_bad.wav"), "--model", str(tiny_model))
    assert ok.returncode == 0
    assert "a_short.wav: " in ok.stdout and "% (next: " in ok.stdout
    assert "error: " in ok.stderr and "c_bad.wav" in ok.stderr
    none = emorec("voice", "predict", str(inputs / "c_bad.wav"), "--model", str(tiny_model))
    assert none.returncode == 1
    (tmp_path / "exists.csv").write_text("keep me")
    refused = emorec("voice", "predict", str(inputs / "a_short.wav"), "--model", str(tiny_model), "--csv", str(tmp_path / "exists.csv"))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert (tmp_path / "exists.csv").read_text() == "keep me"


def test_help_lists_commands():
    out = emorec("voice", "--help")
    assert out.returncode == 0
    for cmd in ("predict", "train", "evaluate", "export", "features"):
        assert cmd in out.stdout


@pytest.mark.slow  # trains (synthetic data)
def test_train_evaluate_export_predict(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3, 4), emotions=(1, 5))
    run = tmp_path / "run"
    out = emorec("voice", "train", "--corpus", f"ravdess={data}", "--protocol", "speaker-kfold", "--folds", "2",
                 "--epochs", "2", "--batch-size", "8", "--cache", str(tmp_path / "cache"), "--out", str(run), "--quiet", *SMALL)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "balanced accuracy" in out.stdout
    for name in ("config.yaml", "metrics.json", "predictions.npz", "fold_01/history.jsonl", "fold_02/metrics.json",
                 "fold_01/best.safetensors"):
        assert (run / name).is_file(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["seed"] == 0 and cfg["labels"] == ["neutral", "angry"] and "voice train" in cfg["command"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"] == "speaker-kfold" and metrics["dataset"] == "ravdess" and metrics["k"] == 2
    assert metrics["pooled"]["n"] == 16 and len(metrics["folds"]) == 2
    hist = [json.loads(line) for line in (run / "fold_01" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"} <= set(hist[0])
    preds = np.load(run / "predictions.npz")
    assert preds["probs"].shape == (16, 2) and set(preds["groups"]) == {f"ravdess:0{a}" for a in range(1, 5)}
    for k in (1, 2):  # speaker-disjoint folds
        fm = json.loads((run / f"fold_0{k}" / "metrics.json").read_text())
        test = set(fm["test_speakers"])
        assert len(test) == 2

    ev = emorec("voice", "evaluate", str(run), "--json", str(tmp_path / "m.json"))
    assert ev.returncode == 0 and json.loads((tmp_path / "m.json").read_text())["pooled"]["n"] == 16

    onnx = tmp_path / "export" / "voice.onnx"
    ex = emorec("voice", "export", str(run / "fold_01"), "--out", str(onnx), "--metrics-from", str(run))
    assert ex.returncode == 0, ex.stderr[-2000:]
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["task"] == "voice" and card["labels"] == ["neutral", "angry"]
    assert card["input"]["sample_rate"] == 16000 and card["input"]["features"]["kind"] == "logmel"
    assert card["input"]["min_seconds"] == 0.5 and card["input"]["max_seconds"] == 5.0
    assert card["metrics"]["protocol"] == "speaker-kfold" and card["metrics"]["n"] == 16
    assert card["training"]["protocol"] == "speaker-kfold"
    again = emorec("voice", "export", str(run / "fold_01"), "--out", str(onnx))
    assert again.returncode == 2 and "exists" in again.stderr

    pred = emorec("voice", "predict", str(next(data.glob("*.wav"))), "--model", str(onnx), "--format", "json")
    assert pred.returncode == 0 and json.loads(pred.stdout)["label"] in ("neutral", "angry")

    ev2 = emorec("voice", "evaluate", "--model", str(onnx), "--corpus", f"ravdess={data}", "--speaker", "01")
    assert ev2.returncode == 0, ev2.stderr[-2000:]
    assert "n = 4" in ev2.stdout


@pytest.mark.slow  # trains (synthetic data)
def test_features_then_train_from_cache_without_audio(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(3, 4))
    cache = tmp_path / "cache"
    pre = emorec("voice", "features", "--corpus", "ravdess", "--data", str(data), "--cache", str(cache))
    assert pre.returncode == 0, pre.stderr[-2000:]
    assert "records-ravdess.json" in pre.stdout
    shutil.rmtree(data)  # the audio is gone: training must use the cache alone
    run = tmp_path / "run"
    out = emorec("voice", "train", "--corpus", "ravdess", "--cache", str(cache), "--protocol", "loso",
                 "--epochs", "1", "--out", str(run), "--quiet", "--data", str(tmp_path / "nowhere"), *SMALL)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"] == "loso" and len(metrics["folds"]) == 3
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["from_cache"] is True


@pytest.mark.slow  # trains (synthetic data)
def test_config_reproduces_run(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2), emotions=(1, 5))
    run = tmp_path / "run1"
    assert emorec("voice", "train", "--corpus", f"ravdess={data}", "--protocol", "loso", "--epochs", "1",
                  "--no-cache", "--out", str(run), "--quiet", *SMALL).returncode == 0
    again = emorec("voice", "train", "--config", str(run / "config.yaml"), "--out", str(tmp_path / "run2"), "--quiet")
    assert again.returncode == 0, again.stderr[-2000:]
    a = np.load(run / "predictions.npz")["probs"]
    b = np.load(tmp_path / "run2" / "predictions.npz")["probs"]
    assert np.allclose(a, b, atol=1e-5)  # same seed, same config: same numbers
    refuse = emorec("voice", "train", "--config", str(run / "config.yaml"), "--quiet")
    assert refuse.returncode == 2 and "already holds a finished run" in refuse.stderr


@pytest.mark.slow  # several CLI processes
def test_bad_corpus_messages(tmp_path):
    out = emorec("voice", "train", "--corpus", "timit", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "corpus 'timit' unknown" in out.stderr
    out = emorec("voice", "train", "--corpus", f"savee={tmp_path / 'none'}", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "not found" in out.stderr


@pytest.mark.slow  # trains (synthetic data)
def test_split_run_then_resume_finishes_every_fold(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.6)
    run = tmp_path / "run"
    first = emorec("voice", "train", "--corpus", f"ravdess={data}", "--protocol", "loso", "--only-fold", "2",
                   "--epochs", "1", "--no-cache", "--out", str(run), "--quiet", *SMALL)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(json.loads((run / "metrics.json").read_text())["folds"]) == 1
    done = (run / "fold_02" / "metrics.json").read_text()
    rest = emorec("voice", "train", "--resume", "--out", str(run), "--quiet")
    assert rest.returncode == 0, rest.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["folds"]] == ["fold_01", "fold_02", "fold_03"]
    assert (run / "fold_02" / "metrics.json").read_text() == done  # finished folds are kept, not retrained
    assert metrics["pooled"]["n"] == 12
