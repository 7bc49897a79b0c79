"""Bounded runs of benchmarks/serve_slow.py and serve_bomb.py: the scripts work end to end."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from .helpers import REPO, make_face_model, make_voice_model

pytestmark = pytest.mark.slow


def load(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_slow_clients_do_not_fail_normal_requests(tmp_path):
    bench = load("serve_slow")
    figures = bench.run_slow(
        counts={"face": 40, "voice": 10},
        clients=4,
        slow=6,
        interval=0.5,
        face_model=str(make_face_model(tmp_path / "face.onnx")),
        voice_model=str(make_voice_model(tmp_path / "voice.onnx")),
        log=lambda *_: None,
    )
    assert figures["failed_requests"] == 0
    assert figures["with_slow"]["face"]["succeeded"] == 40
    assert figures["slow"]["connections"] >= 6
    assert any("408" in outcome for outcome in figures["slow"]["outcomes"])  # the slow ones are cut off
    assert set(figures["targets"]) == {"no_failures_with_slow_clients", "face_p95_ratio", "voice_p95_ratio"}


def test_bomb_run_is_refused_by_default(tmp_path):
    bench = load("serve_bomb")
    bomb = bench.flac_bomb(seconds=3)
    result = bench.one_run(
        "defaults",
        bomb,
        2,
        {"EMOREC_SERVE_MAX_AUDIO_SAMPLES": "1000000"},
        str(make_voice_model(tmp_path / "voice.onnx")),
        1,
        log=lambda *_: None,
    )
    assert result["answers"] == {"413": 2}
    assert 0 < result["peak_mb"] < 600
