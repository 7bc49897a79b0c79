"""Synthetic speech-like audio and tiny ONNX voice models for the voice tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

RAVDESS_LABELS = ["neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"]


def speech_like(seconds: float, sr: int = 16000, f0: float = 140.0, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """A voiced, formant-like signal with syllable-rate (4 Hz) amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t - np.pi / 2)) ** 2
    return (level * voiced * envelope / 3 + 0.003 * rng.normal(size=t.size)).astype(np.float32)


def with_pauses(parts: list[float], pause: float = 1.0, sr: int = 16000, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech bursts of the given lengths separated by near-silent pauses; returns signal and burst times."""
    rng = np.random.default_rng(seed)
    chunks, times, t = [], [], 0.0
    for i, seconds in enumerate(parts):
        gap = (0.001 * rng.normal(size=int(pause * sr))).astype(np.float32)
        chunks.append(gap)
        t += pause
        chunks.append(speech_like(seconds, sr, f0=120 + 20 * i, seed=seed + i))
        times.append((t, t + seconds))
        t += seconds
    chunks.append((0.001 * rng.normal(size=int(pause * sr))).astype(np.float32))
    return np.concatenate(chunks), times


def write_audio(path: Path, x: np.ndarray, sr: int = 16000, subtype: str | None = None) -> Path:
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def make_voice_model(path: Path, labels: list[str] = RAVDESS_LABELS, seed: int = 0, features: dict | None = None,
                     min_seconds: float = 0.5, max_seconds: float = 5.0, probabilities: bool = True) -> Path:
    """(N, T, D) -> max over frames -> linear -> softmax, with a voice model card beside it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import ModelCard, card_path_for, sha256_file
    from emorec.voice.features import FeatureConfig

    cfg = FeatureConfig.from_dict(features or {})
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("ReduceMax", ["features"], ["pooled"], axes=[1], keepdims=0),  # max: the mean of normalised frames is 0
        helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
    ]
    out_name = "logits"
    if probabilities:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1))
        out_name = "probabilities"
    graph = helper.make_graph(
        nodes,
        "tiny_voice",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", "T", cfg.dim])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", len(labels)])],
        initializer=[
            numpy_helper.from_array(rng.normal(0, 0.5, (cfg.dim, len(labels))).astype(np.float32), "W"),
            numpy_helper.from_array(rng.normal(0, 0.2, len(labels)).astype(np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    ModelCard(name="tiny-voice", task="voice", labels=list(labels),
              input={"sample_rate": 16000, "features": cfg.to_dict(), "min_seconds": min_seconds,
                     "max_seconds": max_seconds, "outputs_probabilities": probabilities},
              architecture="mean-pooled linear (synthetic test model)", onnx_sha256=sha256_file(path),
              notes="random weights, for tests only").save(card_path_for(path))
    return path


def make_ravdess_folder(root: Path, actors=(1, 2, 3, 4), emotions=(1, 3, 4, 5), seconds: float = 1.2,
                        ext: str = "wav", nested: bool = False) -> list[Path]:
    """RAVDESS-named synthetic clips; each emotion gets its own pitch so a model can learn it."""
    paths = []
    for a in actors:
        for e in emotions:
            for stmt in (1, 2):
                name = f"03-01-{e:02d}-01-{stmt:02d}-01-{a:02d}.{ext}"
                folder = root / f"Actor_{a:02d}" if nested else root
                x = speech_like(seconds, f0=90 + 45 * e + 3 * a, seed=a * 100 + e * 10 + stmt)
                paths.append(write_audio(folder / name, x))
    return paths
