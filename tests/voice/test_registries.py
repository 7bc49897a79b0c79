"""Speech segmenters and feature kinds are registries: plug-ins work without touching emorec."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.errors import UsageError
from emorec.testing import make_voice_model, with_pauses
from emorec.voice.features import FEATURES, FeatureConfig, FeatureKind, extract, log_mel, register_feature_kind
from emorec.voice.vad import SEGMENTERS, EnergyVad, SpeechDetector, get_vad


def test_built_in_segmenters_and_unknown_names() -> None:
    assert {"auto", "silero", "energy"} <= set(SEGMENTERS.list())
    assert isinstance(get_vad("energy"), SpeechDetector)
    with pytest.raises(UsageError, match="unknown speech segmenter 'webrtc'"):
        get_vad("webrtc")


def test_recogniser_uses_a_registered_segmenter(tmp_path) -> None:
    from emorec.voice.recognizer import VoiceEmotionRecognizer

    streams = []

    class CountingVad(EnergyVad):
        def new_stream(self):
            streams.append(1)
            return super().new_stream()

    SEGMENTERS.register("counting", CountingVad)
    try:
        rec = VoiceEmotionRecognizer(make_voice_model(tmp_path / "v.onnx"), vad="counting")
        x, _ = with_pauses([2.0, 6.5], pause=1.0)
        assert rec.predict(x, sample_rate=16000).segments and streams == [1]
    finally:
        SEGMENTERS.unregister("counting")
    with pytest.raises(UsageError, match="vad 'counting' unknown"):
        VoiceEmotionRecognizer(make_voice_model(tmp_path / "w.onnx"), vad="counting")


def test_feature_kinds_are_keyed_by_the_card_kind() -> None:
    assert FEATURES.list() == sorted(["logmel", "mfcc", "melpower", "whisper", "summary162", "egemaps"])
    assert FeatureConfig(kind="mfcc", deltas=1).dim == 80 and not FeatureConfig(kind="egemaps").is_sequence
    with pytest.raises(ValueError, match="feature kind 'cqt' unknown: use one of logmel, mfcc"):
        FeatureConfig(kind="cqt")
    register_feature_kind(FeatureKind("loudmel", True, lambda c: c.n_mels * (1 + c.deltas),
                                      lambda x, c: log_mel(x * 2.0, c)))
    try:
        cfg = FeatureConfig(kind="loudmel", deltas=0)
        x = np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1
        assert extract(x, cfg).shape == (101, 64) and cfg.is_sequence
    finally:
        FEATURES.unregister("loudmel")
