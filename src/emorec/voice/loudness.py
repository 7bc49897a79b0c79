"""Loudness normalisation of speech input (numpy only; no torch).

Corpora and users' recordings differ in level by more than 20 dB (median RMS
of RAVDESS 0.009, URDU 0.10). The voice features are level-invariant by
construction (log-mel floored relative to the clip's loudest bin, then the
mean removed or every channel standardised), so the level matters for the
steps before them: the energy thresholds of voice activity detection and
silence trimming, and clipping. Every signal is therefore brought to one
speech level first.

The level is a gated RMS in the spirit of ITU-R BS.1770: 100 ms blocks, an
absolute gate at -70 dBFS and a relative gate 10 dB below the ungated mean,
so pauses and silence do not lower the measured level. The gain is capped so
the peak stays below 0 dBFS and never amplifies by more than ``max_gain_db``
(noise-only input is not blown up).

>>> x = 0.01 * np.sin(np.arange(16000) / 3).astype("float32")
>>> round(speech_level_db(normalize_loudness(x)), 1)
-23.0
"""
from __future__ import annotations

import numpy as np

TARGET_DBFS = -23.0
MAX_GAIN_DB = 40.0
BLOCK_SECONDS = 0.1


def speech_level_db(x: np.ndarray, sample_rate: int = 16000) -> float:
    """Gated RMS level of ``x`` in dBFS (-120 for silence)."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return -120.0
    block = max(1, int(BLOCK_SECONDS * sample_rate))
    n = x.size // block
    if n == 0:
        power = np.array([float(np.mean(x.astype(np.float64) ** 2))])
    else:
        power = np.mean(x[: n * block].astype(np.float64).reshape(n, block) ** 2, axis=1)
    power = power[power > 10 ** (-70 / 10)]  # absolute gate
    if power.size == 0:
        return -120.0
    relative = np.mean(power) * 10 ** (-10 / 10)
    gated = power[power >= relative]
    return float(10 * np.log10(np.mean(gated if gated.size else power)))


def loudness_gain(x: np.ndarray, sample_rate: int = 16000, target_dbfs: float = TARGET_DBFS,
                  max_gain_db: float = MAX_GAIN_DB) -> float:
    """Linear gain that brings ``x`` to ``target_dbfs`` (peak kept below 0 dBFS)."""
    level = speech_level_db(x, sample_rate)
    if level <= -120.0:
        return 1.0
    gain_db = min(target_dbfs - level, max_gain_db)
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if peak > 0:
        gain_db = min(gain_db, 20 * np.log10(0.99 / peak))
    return float(10 ** (gain_db / 20))


def normalize_loudness(x: np.ndarray, sample_rate: int = 16000, target_dbfs: float = TARGET_DBFS,
                       max_gain_db: float = MAX_GAIN_DB) -> np.ndarray:
    """``x`` scaled to a gated speech level of ``target_dbfs`` (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return (x * np.float32(loudness_gain(x, sample_rate, target_dbfs, max_gain_db))).astype(np.float32)
