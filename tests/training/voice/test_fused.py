"""The fused voice graph (sequence model + frozen encoder + logistic-regression head) exports to one
ONNX file with two inputs, agrees with torch, keeps the encoder out of int8, and runs through the
recogniser from its card."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from emorec.testing.media import speech_like
from emorec.training.voice.fused import (
    FusedVoiceModel,
    balanced_weights,
    choose_c,
    fit_head,
    restricted_probs,
    write_graph,
)
from emorec.training.voice.models import build_model
from emorec.voice.features import FeatureConfig
from emorec.voice.partials import PartialSpec

LABELS = ["angry", "happy", "neutral", "sad"]


class TinyEncoder(nn.Module):
    """Resemblyzer's shape (LSTM + linear on 40-band mel windows), small and random."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(40, 16, num_layers=2, batch_first=True)
        self.linear = nn.Linear(16, 12)


def _fused(seed: int = 0) -> tuple[FusedVoiceModel, int]:
    torch.manual_seed(seed)
    feat = FeatureConfig(normalize="scalar")
    seq = build_model("gru_attn", feat.dim, len(LABELS), channels=8, hidden=8).eval()
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((80, 12)), np.arange(80) % len(LABELS)
    head = fit_head(X, y, np.ones(80), 0.1)
    return FusedVoiceModel(seq, TinyEncoder(), head).eval(), feat.dim


def test_fused_graph_matches_torch_and_keeps_the_encoder_float(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    fused, dim = _fused()
    out = tmp_path / "voice.onnx"
    diff = write_graph(fused, out, dim, PartialSpec(), compact=True)
    assert diff < 1e-4
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "LSTM" in ops and "DynamicQuantizeLSTM" not in ops  # int8 LSTM wrecks embeddings
    assert not (tmp_path / "voice.fp32.onnx").exists()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["features", "partials"]
    rng = np.random.default_rng(1)
    for windows in (1, 4):  # any number of encoder windows
        p = sess.run(None, {"features": rng.standard_normal((1, 90, dim)).astype(np.float32),
                            "partials": np.abs(rng.standard_normal((windows, 160, 40))).astype(np.float32)})[0]
        assert p.shape == (1, len(LABELS)) and abs(float(p.sum()) - 1) < 1e-4


def test_recognizer_feeds_both_inputs_from_the_card(tmp_path: Path) -> None:
    from emorec import VoiceEmotionRecognizer
    from emorec.training.export import write_card

    fused, dim = _fused()
    out = tmp_path / "voice.onnx"
    write_graph(fused, out, dim, PartialSpec(), compact=False)
    write_card(out, name="tiny-fused", task="voice", labels=LABELS, architecture="test", training={},
               metrics={}, license="test", notes="",
               input={"sample_rate": 16000, "features": FeatureConfig(normalize="scalar").to_dict(),
                      "kind": "sequence", "min_seconds": 0.5, "max_seconds": 5.0, "outputs_probabilities": True,
                      "partials": PartialSpec().to_dict()})
    assert "partials" in json.loads(out.with_suffix(".json").read_text())["input"]
    rec = VoiceEmotionRecognizer(out, vad="energy")
    x = speech_like(2.0, f0=150, seed=3)
    res = rec.predict(x, sample_rate=16000)
    assert res.error is None and res.label in LABELS
    louder = rec.predict(np.clip(10 * x, -1, 1), sample_rate=16000)
    assert louder.label == res.label  # loudness-normalised before both inputs


def test_head_weights_balance_corpora_and_classes() -> None:
    corpus = np.array(["a"] * 6 + ["b"] * 2)
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    w = balanced_weights(corpus, y)
    assert w.mean() == pytest.approx(1.0)
    # within corpus a the two classes weigh the same in total
    assert w[:4].sum() == pytest.approx(w[4:6].sum())


def test_head_regularisation_is_chosen_on_training_corpora_only() -> None:
    rng = np.random.default_rng(0)
    n = 120
    corpus = np.array(["a", "b", "c"] * (n // 3))
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 5)) + y[:, None]
    train = np.flatnonzero(corpus != "c")
    X_poisoned = X.copy()
    X_poisoned[corpus == "c"] = rng.standard_normal((int(np.sum(corpus == "c")), 5)) * 100
    # the held-out corpus's values cannot change the choice
    assert choose_c(X, y, corpus, corpus, train) == choose_c(X_poisoned, y, corpus, corpus, train)
    ids, probs = restricted_probs(fit_head(X[train], y[train], np.ones(len(train)), 1.0), X[:5], [0, 2])
    assert list(ids) == [0, 2] and np.allclose(probs.sum(1), 1)
