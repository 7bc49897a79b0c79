"""Real RAVDESS (needs EMOREC_DATA): a short training run that learns, and the shipped model."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.data

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "emorec" / "models" / "voice.onnx"


@pytest.mark.slow  # real-data training
def test_short_real_training_run_learns(data_root, tmp_path):
    """8 actors, one speaker-disjoint fold (2 unseen actors), a small GRU, 10 epochs on CPU."""
    pytest.importorskip("torch")
    from emorec.training.voice.config import VoiceTrainConfig
    from emorec.training.voice.train import run_training

    start = time.perf_counter()
    cfg = VoiceTrainConfig(corpus=[f"ravdess={data_root / 'ravdess'}"], limit_speakers=8, protocol="speaker-kfold",
                           folds=4, only_folds=[1], epochs=10, batch_size=16, lr=3e-3, warmup_epochs=1,
                           val_speakers=0, min_epochs=0, train_seconds=2.0, cache=str(tmp_path / "cache"), threads=1,
                           model_kwargs={"channels": 48, "hidden": 48, "layers": 1}, out=str(tmp_path / "run"))
    metrics = run_training(cfg, progress=False)
    pooled = metrics["pooled"]
    assert pooled["n"] == 120 and len(pooled["labels"]) == 8
    fold = metrics["folds"][0]
    train_speakers = {f"ravdess:{a:02d}" for a in range(1, 9)} - set(fold["test_speakers"])
    assert len(fold["test_speakers"]) == 2 and not train_speakers & set(fold["test_speakers"])
    # Chance is 12.5 % (8 balanced-ish classes); 120 test clips of 2 unseen actors.
    assert pooled["accuracy"] > 0.25 and pooled["balanced_accuracy"] > 0.25, pooled
    assert time.perf_counter() - start < 240  # about 50 s on a busy 2-core CPU


@pytest.mark.skipif(not PACKAGED.is_file(), reason="no shipped voice model yet")
def test_shipped_model_on_real_clips(data_root):
    """The packaged model (trained on actors 01-20) on a few clips per emotion: a pipeline check, not a score."""
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    rec = VoiceEmotionRecognizer()
    assert rec.labels == ["neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"]
    assert rec.card.input["features"]["kind"] in ("logmel", "mfcc", "whisper")
    codes = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
             "07": "disgust", "08": "surprise"}
    clips = [data_root / "ravdess" / f"03-01-{e}-{'01' if e == '01' else '02'}-01-01-{a:02d}.flac"
             for e in codes for a in (3, 12, 17)]
    results = rec.predict_batch(clips)
    assert all(r.error is None and r.label in rec.labels for r in results)
    correct = np.mean([r.label == codes[Path(r.path).name[6:8]] for r in results])
    # These clips were in its training data, so it must get most of them (24 clips, chance 3).
    assert correct >= 0.6, correct
    long = np.concatenate([np.r_[rec_audio(c), np.zeros(16000, np.float32)] for c in clips[:6]])
    timeline = rec.predict(long, sample_rate=16000)
    assert timeline.label is not None and 4 <= len(timeline.segments) <= 12


def rec_audio(path: Path) -> np.ndarray:
    from emorec.voice.audio import read_audio

    return read_audio(path)
