"""Features: numpy log-mel/MFCC against librosa, shapes, config, summary vectors."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.voice.features import (
    FeatureConfig,
    base_features,
    deltas,
    extract,
    finalize,
    log_mel,
    mel_filterbank,
    mfcc,
    power_spectrogram,
)

from emorec.testing import speech_like


def test_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(16000, 512, 64, 50.0, 8000.0)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=50, fmax=8000)
    assert np.abs(ours - ref).max() < 1e-6


def test_power_spectrogram_matches_librosa_stft():
    librosa = pytest.importorskip("librosa")
    x = speech_like(1.0)
    ours = power_spectrogram(x, 512, 512, 160)
    ref = np.abs(librosa.stft(x, n_fft=512, hop_length=160, center=True, pad_mode="constant")) ** 2
    assert ours.shape == ref.T.shape
    assert np.abs(ours - ref.T).max() / ref.max() < 1e-5


def test_log_mel_and_mfcc_shapes():
    cfg = FeatureConfig()
    x = speech_like(2.0)
    assert log_mel(x, cfg).shape == (201, 64)
    assert mfcc(x, cfg.with_(kind="mfcc")).shape == (201, 40)
    assert extract(x, cfg, trimmed=True).shape == (201, cfg.dim) == (201, 192)
    assert extract(x, cfg.with_(kind="mfcc", deltas=1), trimmed=True).shape == (201, 80)
    assert extract(x, cfg.with_(deltas=0), trimmed=True).shape == (201, 64)


def test_utterance_normalisation_and_gain_invariance():
    cfg = FeatureConfig()
    x = speech_like(1.5)
    a, b = extract(x, cfg), extract(0.5 * x, cfg)
    assert np.allclose(a.mean(0), 0, atol=1e-4) and np.allclose(a.std(0), 1, atol=1e-2)
    # log-mel + per-utterance normalisation removes gain (bands well above the 1e-6 log floor)
    assert np.abs(a[:, :32] - b[:, :32]).max() < 0.05


def test_deltas_of_a_ramp():
    ramp = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    d = deltas(ramp, 2)
    assert np.allclose(d[2:-2], 1.0)


def test_trim_changes_length():
    cfg = FeatureConfig()
    x = np.r_[np.zeros(16000), speech_like(1.0), np.zeros(16000)].astype(np.float32)
    assert extract(x, cfg).shape[0] < extract(x, cfg.with_(trim_db=None)).shape[0]


def test_finalize_of_cached_base_equals_extract():
    cfg = FeatureConfig(kind="mfcc")
    x = speech_like(1.0)
    base = base_features(x, cfg)
    assert base.shape[1] == cfg.n_mels  # the cache stores log-mel for every sequence kind
    assert np.allclose(finalize(base, cfg), extract(x, cfg), atol=1e-5)


def test_config_roundtrip_and_key():
    cfg = FeatureConfig(n_mels=80)
    assert FeatureConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    assert cfg.key() == FeatureConfig(n_mels=80).key() != FeatureConfig().key()
    with pytest.raises(ValueError, match="feature kind"):
        FeatureConfig(kind="wav2vec")


def test_empty_signal():
    from emorec.errors import InputError

    with pytest.raises(InputError, match="empty"):
        extract(np.zeros(0, np.float32), FeatureConfig())


def test_summary162_vector():
    pytest.importorskip("librosa")
    v = extract(speech_like(1.0), FeatureConfig(kind="summary162"))
    assert v.shape == (162,) and np.all(np.isfinite(v))


def test_egemaps_vector():
    pytest.importorskip("opensmile")
    v = extract(speech_like(1.0), FeatureConfig(kind="egemaps"))
    assert v.shape == (88,) and np.all(np.isfinite(v))
