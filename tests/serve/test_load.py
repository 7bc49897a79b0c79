"""A bounded run of benchmarks/serve_load.py: 200 requests from 8 clients, none may fail."""
from __future__ import annotations

import pytest

from .helpers import make_face_model, make_voice_model

pytestmark = pytest.mark.slow


def load_benchmark():
    from benchmarks import serve_load

    return serve_load


def test_quick_load_has_no_failures(tmp_path):
    bench = load_benchmark()
    figures = bench.run_load(
        tasks=["face", "voice"], counts={"face": 150, "voice": 50}, clients=8,
        face_model=str(make_face_model(tmp_path / "face.onnx")),
        voice_model=str(make_voice_model(tmp_path / "voice.onnx")),
        log=lambda *_: None,
    )
    assert figures["failed_requests"] == 0, figures["face"]["failures"] + figures["voice"]["failures"]
    assert figures["face"]["succeeded"] == 150 and figures["voice"]["succeeded"] == 50
    assert figures["face"]["responses_with_a_face"] == 150  # every photo holds a face
    for task in ("face", "voice"):
        latency = figures[task]["latency"]
        assert latency["n"] == figures[task]["succeeded"] and 0 < latency["p50_ms"] <= latency["p95_ms"]
        assert figures[task]["throughput_rps"] > 0
    memory = figures["memory"]["face"]
    assert memory["samples"] >= 2 and memory["start_mb"] > 0
    assert set(figures["targets"]) >= {"face_rps", "face_p95_ms", "voice_rps"}
