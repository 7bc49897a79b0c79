"""Audio reading: formats, rates, channels, streaming, and every bad input."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emorec.errors import InputError
from emorec.voice.audio import (
    audio_info,
    check_signal,
    fit_length,
    read_audio,
    stream_audio,
    trim_bounds,
    trim_silence,
)

from emorec.testing import speech_like, write_audio


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats_read_and_resample(tmp_path, ext):
    x = speech_like(1.0, sr=44100)
    path = write_audio(tmp_path / f"clip.{ext}", x, 44100)
    y = read_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 16000) < 1200  # mp3/ogg encoders add some padding
    assert 0.05 < np.abs(y).max() <= 1.0


def test_stereo_is_averaged_to_mono(tmp_path):
    left = speech_like(0.5)
    path = write_audio(tmp_path / "stereo.wav", np.stack([left, -left * 0 + left], axis=1))
    assert np.allclose(read_audio(path), left, atol=1e-4)
    assert audio_info(path).channels == 2


def test_8k_upsampled(tmp_path):
    path = write_audio(tmp_path / "tel.wav", speech_like(2.0, sr=8000), 8000)
    assert read_audio(path).size == 32000


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="empty.wav: empty file"):
        read_audio(tmp_path / "empty.wav")


def test_zero_samples(tmp_path):
    sf.write(str(tmp_path / "zero.wav"), np.zeros(0, np.float32), 16000)
    with pytest.raises(InputError, match="no audio samples"):
        read_audio(tmp_path / "zero.wav")


def test_not_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not samples " * 20)
    with pytest.raises(InputError, match="not a readable audio file"):
        read_audio(tmp_path / "notes.wav")


def test_silent(tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(16000, np.float32))
    with pytest.raises(InputError, match="silent"):
        read_audio(path)
    assert read_audio(path, allow_silent=True).size == 16000


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_truncated(tmp_path, ext):
    full = write_audio(tmp_path / f"full.{ext}", speech_like(3.0))
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_audio(cut)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_audio(tmp_path / "nope.wav")


def test_nan_array():
    with pytest.raises(InputError, match="NaN"):
        check_signal(np.array([0.1, np.nan], np.float32))


def test_too_long_for_read_audio(tmp_path):
    path = write_audio(tmp_path / "long.wav", speech_like(3.0))
    with pytest.raises(InputError, match="stream"):
        read_audio(path, max_seconds=2.0)


def test_stream_matches_full_read_and_blocks_are_bounded(tmp_path):
    x = speech_like(7.3, sr=22050)
    path = write_audio(tmp_path / "s.flac", x, 22050)
    blocks = list(stream_audio(path, block_seconds=1.0))
    assert max(b.size for b in blocks) <= 16000 + 512
    joined = np.concatenate(blocks)
    full = read_audio(path)
    assert abs(joined.size - full.size) <= 2
    n = min(joined.size, full.size)
    assert np.abs(joined[1000 : n - 1000] - full[1000 : n - 1000]).max() < 1e-3


def test_trim_and_fit_length():
    x = np.r_[np.zeros(8000), speech_like(1.0), np.zeros(8000)].astype(np.float32)
    start, end = trim_bounds(x)
    assert 7000 < start <= 8000 and 24000 <= end < 26000
    assert trim_silence(x).size == end - start
    assert fit_length(np.ones(100, np.float32), 1000, min_seconds=0.5).size == 500
    rng = np.random.default_rng(0)
    assert fit_length(np.ones(5000, np.float32), 1000, max_seconds=2.0, rng=rng).size == 2000
