"""Augmentation primitives (waveform and feature domain) and SpecAugment."""
from __future__ import annotations

import numpy as np

from emorec.training.voice.augment import (
    AugmentConfig,
    FeatureAugmentConfig,
    add_noise,
    augment_logmel,
    feature_pitch,
    feature_stretch,
    notebook_copies,
    pitch_shift,
    random_augment,
    spec_augment,
    time_shift,
    time_stretch,
)
from emorec.voice.features import FeatureConfig, log_mel

from emorec.testing import speech_like

SR = 16000


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * SR / x.size)


def test_time_stretch_keeps_pitch():
    tone = np.sin(2 * np.pi * 300 * np.arange(SR) / SR).astype(np.float32)
    slow = time_stretch(tone, 0.8)
    assert slow.size == 20000
    assert abs(_peak_hz(slow) - 300) < 5


def test_pitch_shift_keeps_duration():
    tone = np.sin(2 * np.pi * 300 * np.arange(SR) / SR).astype(np.float32)
    up = pitch_shift(tone, 12)
    assert up.size == tone.size
    assert abs(_peak_hz(up) - 600) < 10


def test_noise_snr():
    rng = np.random.default_rng(0)
    x = speech_like(1.0)
    y = add_noise(x, rng, snr_db=10)
    noise = y - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert abs(snr - 10) < 0.5


def test_time_shift_rolls():
    x = np.arange(1000, dtype=np.float32)
    y = time_shift(x, np.random.default_rng(1), max_seconds=0.01, sample_rate=SR)
    assert sorted(y) == sorted(x)


def test_random_augment_and_notebook_copies_differ_from_input():
    rng = np.random.default_rng(0)
    x = speech_like(1.0)
    y = random_augment(x, rng, AugmentConfig(noise_prob=1.0))
    assert np.max(np.abs(y)) <= 1.0 and not np.allclose(y[: x.size][:1000], x[:1000])
    noisy, stretched = notebook_copies(x, rng)
    assert noisy.size == x.size and stretched.size == int(round(x.size / 0.8))


def test_spec_augment_masks_shared_across_delta_blocks():
    rng = np.random.default_rng(3)
    feats = np.ones((100, 192), np.float32)
    out = spec_augment(feats, rng, bands=64, freq_masks=1, freq_width=8, time_masks=0)
    zero_cols = np.flatnonzero((out == 0).all(axis=0))
    assert zero_cols.size > 0
    static = zero_cols[zero_cols < 64]
    assert set((static + 64).tolist()) <= set(zero_cols.tolist()) and set((static + 128).tolist()) <= set(zero_cols.tolist())
    assert np.array_equal(feats, np.ones((100, 192), np.float32))  # input untouched


def test_feature_domain_augment():
    cfg = FeatureConfig()
    lm = log_mel(speech_like(1.0), cfg)
    assert feature_stretch(lm, 0.5).shape == (2 * lm.shape[0], 64)
    # A pitch shift moves energy up the mel axis.
    centroid = lambda m: float((np.exp(m) * np.arange(64)).sum() / np.exp(m).sum())  # noqa: E731
    assert centroid(feature_pitch(lm, 4, cfg)) > centroid(lm)
    rng = np.random.default_rng(0)
    out = augment_logmel(lm, rng, FeatureAugmentConfig(noise_prob=1, stretch_prob=1, pitch_prob=1), cfg)
    assert out.shape[1] == 64 and np.all(np.isfinite(out)) and out.shape[0] != lm.shape[0] or not np.allclose(out, lm)
