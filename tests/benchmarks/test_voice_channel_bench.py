"""benchmarks/voice_channel.py: each degradation does what its name says, deterministically, and
the scores run over the held-out corpus's classes."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import voice_channel as vc
from emorec.testing.media import speech_like

SR = 16000


def _band_energy(x: np.ndarray, low: float, high: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(f >= low) & (f < high)].sum() / spec.sum())


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (speech_like(2.0, f0=140) + 0.02 * rng.standard_normal(2 * SR)).astype(np.float32)


def test_every_condition_keeps_a_finite_clip_of_the_same_length(clip):
    for name, fn in vc.conditions().items():
        out = np.asarray(fn(clip, np.random.default_rng(1)))
        assert out.dtype == np.float32 and np.isfinite(out).all(), name
        assert abs(out.size - clip.size) <= SR // 50, name  # codec frames may pad a few ms
        assert not np.allclose(out[: min(out.size, clip.size)], clip[: min(out.size, clip.size)]), name


def test_conditions_are_what_they_say(clip):
    c = vc.conditions()
    rng = np.random.default_rng(2)
    tel = c["telephone"](clip, rng)
    assert _band_energy(tel, 0, 200) < 0.2 * _band_energy(clip, 0, 200) + 1e-6
    assert _band_energy(tel, 4500, 8000) < 0.2 * _band_energy(clip, 4500, 8000) + 1e-6
    noisy = c["noise_10db"](clip, rng)
    snr = 10 * np.log10(np.sum(clip ** 2) / np.sum((noisy - clip) ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)
    quiet = c["quiet"](clip, rng)
    assert 20 * np.log10(np.abs(clip).max() / np.abs(quiet).max()) == pytest.approx(30.0, abs=0.1)


def test_a_clips_degradation_repeats_with_its_seed(clip):
    fn = vc.conditions()["reverb"]
    a, b = fn(clip, np.random.default_rng(7)), fn(clip, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fn(clip, np.random.default_rng(8)))


def test_scores_run_over_the_held_out_classes():
    labels = ["neutral", "calm", "happy", "sad"]
    yt = np.array([0, 2, 3, 0, 2, 3])
    from emorec.training.voice.fused import restricted_scores  # the scorer voice_channel.py uses

    got = restricted_scores(yt, yt.copy(), np.array(list("aabbcc")), labels)
    assert got["metrics"]["labels"] == ["neutral", "happy", "sad"]  # calm is not the held-out corpus's
    assert got["metrics"]["balanced_accuracy"] == pytest.approx(1.0)


def test_every_condition_has_settings_that_key_its_cache():
    assert set(vc.SETTINGS) == set(vc.conditions())
    keys = {vc.cache_key(n) for n in vc.SETTINGS}
    assert len(keys) == len(vc.SETTINGS) and all(k.startswith(vc.VECTORS + "@") for k in keys)
