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

A very quiet recording (peak above the silence check's -60 dBFS, speech near or
under -70 dBFS) would lose most or all of its blocks to the absolute gate and be
left quiet; when the usual measurement is empty or asks for more than 40 dB, its
gate is set 70 dB below the recording's own peak instead, and the cap rises to what
the peak allows (60 dB at most). Every recording that needs less than 40 dB (all of
the training corpora) is measured exactly as before.

>>> x = 0.01 * np.sin(np.arange(16000) / 3).astype("float32")
>>> round(speech_level_db(normalize_loudness(x)), 1)
-23.0
"""
from __future__ import annotations

import numpy as np

TARGET_DBFS = -23.0
MAX_GAIN_DB = 40.0
QUIET_MAX_GAIN_DB = 60.0  # for very quiet recordings: what the silence check's -60 dBFS peak leaves room for
QUIET_PEAK = 1e-3  # emorec.voice.audio.SILENCE_PEAK: quieter peaks are silence, never amplified that far
ABSOLUTE_GATE_DB = -70.0
BLOCK_SECONDS = 0.1


def speech_level_db(x: np.ndarray, sample_rate: int = 16000, gate_db: float = ABSOLUTE_GATE_DB) -> float:
    """Gated RMS level of ``x`` in dBFS (-120 for silence); ``gate_db``: the absolute gate."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return -120.0
    block = max(1, int(BLOCK_SECONDS * sample_rate))
    n = x.size // block
    if n == 0:
        power = np.array([float(np.mean(x.astype(np.float64) ** 2))])
    else:
        power = np.mean(x[: n * block].astype(np.float64).reshape(n, block) ** 2, axis=1)
    power = power[power > 10 ** (gate_db / 10)]  # absolute gate
    if power.size == 0:
        return -120.0
    relative = np.mean(power) * 10 ** (-10 / 10)
    gated = power[power >= relative]
    return float(10 * np.log10(np.mean(gated if gated.size else power)))


def loudness_gain(x: np.ndarray, sample_rate: int = 16000, target_dbfs: float = TARGET_DBFS,
                  max_gain_db: float = MAX_GAIN_DB) -> float:
    """Linear gain that brings ``x`` to ``target_dbfs`` (peak kept below 0 dBFS)."""
    level = speech_level_db(x, sample_rate)
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if peak >= QUIET_PEAK and (level <= -120.0 or target_dbfs - level > max_gain_db):
        # very quiet speech sits at or under the absolute gate: gate relative to the recording's own peak
        level = speech_level_db(x, sample_rate, gate_db=20 * np.log10(peak) + ABSOLUTE_GATE_DB)
        max_gain_db = max(max_gain_db, QUIET_MAX_GAIN_DB)
    if level <= -120.0:
        return 1.0
    gain_db = min(target_dbfs - level, max_gain_db)
    if peak > 0:
        gain_db = min(gain_db, 20 * np.log10(0.99 / peak))
    return float(10 ** (gain_db / 20))


def normalize_loudness(x: np.ndarray, sample_rate: int = 16000, target_dbfs: float = TARGET_DBFS,
                       max_gain_db: float = MAX_GAIN_DB) -> np.ndarray:
    """``x`` scaled to a gated speech level of ``target_dbfs`` (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return (x * np.float32(loudness_gain(x, sample_rate, target_dbfs, max_gain_db))).astype(np.float32)
