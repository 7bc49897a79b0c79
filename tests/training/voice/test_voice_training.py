"""Training pipeline paths beyond the default: leaky protocol, summary baselines, combined corpora, ensembles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from emorec.errors import EmorecError  # noqa: E402
from emorec.training.voice.config import VoiceTrainConfig  # noqa: E402
from emorec.training.voice.export import export_voice  # noqa: E402
from emorec.training.voice.train import run_training  # noqa: E402
from emorec.voice.recognizer import VoiceEmotionRecognizer  # noqa: E402

from emorec.testing import make_ravdess_folder, speech_like, write_audio  # noqa: E402

SMALL = {"channels": 16, "hidden": 16, "layers": 1}


def _cfg(tmp_path: Path, **kw) -> VoiceTrainConfig:
    base = dict(epochs=1, batch_size=8, cache=None, out=str(tmp_path / "run"), model_kwargs=SMALL, min_epochs=0)
    return VoiceTrainConfig(**{**base, **kw})


def test_random_augmented_protocol_splits_copies(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.8)
    metrics = run_training(_cfg(tmp_path, corpus=[f"ravdess={data}"], protocol="random-augmented", folds=3),
                           progress=False)
    assert metrics["pooled"]["n"] == 3 * 12  # every clip plus its two copies
    assert metrics["copies"].startswith("waveform")
    preds = np.load(tmp_path / "run" / "predictions.npz")
    assert set(preds["variant"]) == {"orig", "copy1", "copy2"}
    # The leak: a test clip's copies (same path) sit in the training folds.
    fold1 = np.load(tmp_path / "run" / "fold_01" / "predictions.npz")
    test_paths = set(fold1["paths"])
    other = np.concatenate([np.load(tmp_path / "run" / f"fold_0{k}" / "predictions.npz")["paths"] for k in (2, 3)])
    assert test_paths & set(other)


def test_summary162_cnn_baseline_and_export(tmp_path):
    pytest.importorskip("librosa")
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2), emotions=(3, 4), seconds=0.8)
    cfg = _cfg(tmp_path, corpus=[f"ravdess={data}"], protocol="loso", model="cnn1d_summary", model_kwargs={},
               features={"kind": "summary162"})
    metrics = run_training(cfg, progress=False)
    assert metrics["pooled"]["n"] == 8
    onnx = export_voice(tmp_path / "run" / "fold_01", tmp_path / "summary.onnx")
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["input"]["kind"] == "vector" and card["input"]["features"]["kind"] == "summary162"
    result = VoiceEmotionRecognizer(onnx).predict(speech_like(1.5), sample_rate=16000)
    assert result.label in ("happy", "sad")


def test_model_feature_mismatch_is_explained(tmp_path):
    from emorec.errors import EmorecError

    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2), emotions=(3, 4), seconds=0.6)
    with pytest.raises(EmorecError, match="summary162 or egemaps"):
        run_training(_cfg(tmp_path, corpus=[f"ravdess={data}"], protocol="loso", model="lstm_summary", model_kwargs={}),
                     progress=False)


def test_combined_corpora_with_label_map(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2), emotions=(1, 2, 5), seconds=0.6)
    savee = tmp_path / "savee"
    for i, spk in enumerate(("DC", "JE")):
        for code in ("a", "n", "su"):
            write_audio(savee / "AudioData" / spk / f"{code}01.wav", speech_like(0.6, seed=i))
    cfg = _cfg(tmp_path, corpus=[f"ravdess={data}", f"savee={savee}"], protocol="loso",
               label_map="calm=neutral,surprise=drop")
    metrics = run_training(cfg, progress=False)
    assert metrics["pooled"]["labels"] == ["neutral", "angry"]
    assert metrics["pooled"]["n"] == 12 + 4  # ravdess 2 actors x 3 emotions x 2; savee 2 x (a, n)
    assert metrics["dataset"] == "ravdess+savee" and len(metrics["folds"]) == 4


def test_manifest_corpus(tmp_path):
    rows = ["path,label,speaker"]
    for spk in ("s1", "s2", "s3"):
        for label, f0 in (("sad", 100.0), ("happy", 260.0)):
            path = write_audio(tmp_path / "clips" / f"{spk}_{label}.wav", speech_like(0.7, f0=f0))
            rows.append(f"{path.relative_to(tmp_path)},{label},{spk}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    metrics = run_training(_cfg(tmp_path, corpus=[f"manifest={tmp_path / 'm.csv'}"], protocol="speaker-kfold", folds=3),
                           progress=False)
    assert metrics["pooled"]["n"] == 6 and metrics["pooled"]["labels"] == ["happy", "sad"]


def test_final_model_on_all_speakers_with_ensemble(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.6)
    metrics = run_training(_cfg(tmp_path, corpus=[f"ravdess={data}"], protocol="all", epochs=2, ensemble=2),
                           progress=False)
    assert metrics["trained_on_all"] and metrics["n_train"] == 12 and metrics["n_val"] == 0
    assert len(metrics["speakers"]) == 3 and metrics["epochs_run"] == 2
    run = tmp_path / "run"
    assert (run / "member_01" / "best.safetensors").is_file() and (run / "member_02" / "best.safetensors").is_file()
    onnx = export_voice(run, tmp_path / "final.onnx")
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert "ensemble of 2" in card["architecture"] and card["metrics"] == {}
    assert VoiceEmotionRecognizer(onnx).predict(next(data.glob("*.wav"))).label in ("neutral", "angry")


def test_compact_export_is_smaller_and_agrees(tmp_path):
    import numpy as np

    from emorec.runtime import OnnxModel

    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.6)
    big = {"channels": 64, "hidden": 64, "layers": 1}
    run_training(_cfg(tmp_path, corpus=[f"ravdess={data}"], protocol="all", model_kwargs=big,
                      ensemble=2, ensemble_kwargs=[{}, {"model": "lstm_attn"}]), progress=False)
    run = tmp_path / "run"
    full = export_voice(run, tmp_path / "full.onnx")
    small = export_voice(run, tmp_path / "small.onnx", compact=True)
    assert small.stat().st_size < 0.45 * full.stat().st_size
    assert json.loads(small.with_suffix(".json").read_text())["input"]["weights"].startswith("int8")
    assert json.loads(full.with_suffix(".json").read_text())["input"]["weights"] == "float32"
    x = np.random.default_rng(0).standard_normal((3, 200, 192)).astype(np.float32)
    a, b = OnnxModel.load(full).run(x), OnnxModel.load(small).run(x)
    assert np.abs(a - b).max() < 0.05


def test_resume_with_a_larger_mixed_ensemble_trains_only_new_members(tmp_path):
    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.6)
    base = dict(corpus=[f"ravdess={data}"], protocol="all", epochs=2, ensemble_kwargs=[{}])
    run_training(_cfg(tmp_path, ensemble=2, **base), progress=False)
    run = tmp_path / "run"
    first = (run / "member_01" / "best.safetensors").read_bytes()
    mtime = (run / "member_02" / "best.safetensors").stat().st_mtime_ns
    lstm = {"model": "lstm_attn", "channels": 8, "hidden": 8, "layers": 1}
    grown = dict(base, ensemble_kwargs=[{}, {}, lstm])
    run_training(_cfg(tmp_path, ensemble=3, **grown), resume=True, progress=False)
    assert (run / "member_01" / "best.safetensors").read_bytes() == first  # reused, not retrained
    assert (run / "member_02" / "best.safetensors").stat().st_mtime_ns == mtime
    assert (run / "member_03" / "best.safetensors").is_file()
    assert json.loads((run / "member_03" / "finished.json").read_text())["model"] == "lstm_attn"
    onnx = export_voice(run, tmp_path / "mixed.onnx")
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["architecture"].startswith("ensemble of 3: 2 gru_attn + 1 lstm_attn")
    # Resuming with other options for a finished member is refused, not silently mixed.
    changed = dict(base, ensemble_kwargs=[{}, {}, {**lstm, "hidden": 12}])
    with pytest.raises(EmorecError, match="member_03 was trained as"):
        run_training(_cfg(tmp_path, ensemble=3, **changed), resume=True, progress=False)
    assert VoiceEmotionRecognizer(onnx).predict(next(data.glob("*.wav"))).label in ("neutral", "angry")


def test_random_augmented_from_cache_only_uses_feature_domain_copies(tmp_path):
    import shutil

    from emorec.training.voice.features import precompute

    data = tmp_path / "ravdess"
    make_ravdess_folder(data, actors=(1, 2, 3), emotions=(1, 5), seconds=0.6)
    cache = tmp_path / "cache"
    precompute(VoiceTrainConfig(corpus=["ravdess"], data=str(data), cache=str(cache)), progress=False)
    shutil.rmtree(data)
    metrics = run_training(_cfg(tmp_path, corpus=["ravdess"], data=str(tmp_path / "gone"), cache=str(cache),
                                protocol="random-augmented", folds=3), progress=False)
    assert metrics["copies"].startswith("feature-domain") and metrics["pooled"]["n"] == 36
