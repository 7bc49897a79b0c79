"""Voice activity detection and streaming segmentation."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from emorec.voice.vad import (
    EnergyVad,
    SileroVad,
    StreamingSegmenter,
    VadConfig,
    default_vad,
    segment_array,
    silero_model_path,
)

from emorec.testing import speech_like, with_pauses


def test_energy_vad_finds_bursts():
    x, times = with_pauses([1.5, 2.0, 1.0], pause=1.0)
    segs = segment_array(x, EnergyVad())
    assert len(segs) == 3
    for seg, (start, end) in zip(segs, times):
        assert abs(seg.start - start) < 0.25 and abs(seg.end - end) < 0.45
        assert seg.audio.size == pytest.approx((seg.end - seg.start) * 16000, abs=2)


def test_long_speech_is_cut_into_utterances():
    x, _ = with_pauses([13.0], pause=0.5)
    segs = segment_array(x, EnergyVad(), VadConfig(max_segment_s=5.0))
    assert len(segs) == 3
    assert all(s.end - s.start <= 5.0 + 1e-6 for s in segs)
    assert segs[0].end == pytest.approx(segs[1].start)


def test_streaming_blocks_do_not_change_segments():
    x, _ = with_pauses([1.0, 2.5, 0.8, 3.0], pause=0.8, seed=4)
    whole = segment_array(x, EnergyVad(), block_seconds=100)
    small = segment_array(x, EnergyVad(), block_seconds=0.37)
    assert [(round(s.start, 3), round(s.end, 3)) for s in whole] == [(round(s.start, 3), round(s.end, 3)) for s in small]


def test_segmenter_memory_is_bounded():
    cfg = VadConfig(max_segment_s=4.0)
    seg = StreamingSegmenter(EnergyVad(), cfg)
    x, _ = with_pauses([3.0] * 20, pause=1.0)
    block = 8000
    biggest = 0
    for i in range(0, x.size, block):
        seg.feed(x[i : i + block])
        biggest = max(biggest, seg.buf.size)
    assert biggest <= (cfg.max_segment_s + 2 * cfg.pad_s) * 16000 + 2 * block


def test_short_blips_are_ignored():
    x = np.zeros(48000, np.float32)
    x[16000:16000 + 1600] = speech_like(0.1)  # 100 ms click
    assert segment_array(x, EnergyVad()) == []


def test_silero_found_without_importing_the_package():
    path = silero_model_path()
    if path is None:
        pytest.skip("silero-vad not installed")
    assert path.suffix == ".onnx"
    assert "silero_vad" not in sys.modules
    assert isinstance(default_vad(), SileroVad)


def test_silero_stock_and_sequence_models_agree():
    path = silero_model_path()
    if path is None:
        pytest.skip("silero-vad not installed")
    stock = path.parent / "silero_vad.onnx"
    if not stock.is_file() or stock == path:
        pytest.skip("only one silero model file")
    x = speech_like(3.0)
    x = x[: x.size - x.size % 512]
    a, b = SileroVad(path).probs(x), SileroVad(stock).probs(x)
    assert a.shape == b.shape == (x.size // 512,)
    assert np.abs(a - b).max() < 1e-4
