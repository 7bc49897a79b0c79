"""Tiny ONNX models with their cards, built with the onnx helper API (no torch, no downloads).

One builder per modality replaces the copies the tests used to keep; the
keyword arguments reproduce each former variant exactly (same weights for the
same seed), so tests that compare numbers keep their meaning.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
RAVDESS_LABELS = ["neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"]


def write_card(path: Path, card: dict[str, Any]) -> Path:
    """Write a card as given, without validating it: tests build deliberately broken cards too."""
    import json

    from emorec import __version__
    from emorec.cards import CARD_VERSION, card_path_for

    full = {"architecture": "", "training": {}, "metrics": {}, "onnx_sha256": "", "emorec_version": __version__,
            "card_version": CARD_VERSION, "license": "", "notes": "", **card}
    order = ["name", "task", "labels", "input", "architecture", "training", "metrics", "onnx_sha256",
             "emorec_version", "card_version", "license", "notes"]
    out = {k: full[k] for k in order if k in full} | {k: v for k, v in full.items() if k not in order}
    target = card_path_for(path)
    target.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return target


def _save(graph: Any, path: Path, opset: int) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_face_model(
    path: Path,
    labels: list[str] | None = None,
    *,
    size: tuple[int, int] = (48, 48),
    n_outputs: int | None = None,
    fixed_batch: int | None = None,
    softmax: bool = False,
    task: str = "face",
    input_spec: dict[str, Any] | None = None,
    seed: int = 0,
    name: str = "tiny-synthetic-face",
    weight_std: float = 0.05,
    bias_std: float = 0.1,
    checksum: bool = True,
) -> Path:
    """A random linear classifier over the crop: (N, 1, H, W) -> logits (or probabilities with ``softmax``).

    Writes ``path`` (.onnx) and its card (.json) and returns the .onnx path.
    ``n_outputs`` != len(labels) and ``fixed_batch`` build deliberately broken models.
    """
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import sha256_file
    from emorec.face.preprocess import DEFAULT_INPUT

    labels = list(labels or FER_LABELS)
    n_out = n_outputs or len(labels)
    h, w = size
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, weight_std, size=(h * w, n_out)).astype(np.float32)
    bias = (rng.normal(0.0, bias_std, size=(n_out,)) if bias_std else np.zeros(n_out)).astype(np.float32)
    batch = fixed_batch if fixed_batch else "N"
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits" if not softmax else "pre"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["pre"], ["logits"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "tiny_face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n_out])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    path = _save(graph, path, 17)
    spec = {**DEFAULT_INPUT, "size": [h, w], "outputs_probabilities": softmax}
    spec.update(input_spec or {})
    write_card(path, dict(
        name=name,
        task=task,
        labels=labels,
        input=spec,
        architecture="linear (synthetic test model)",
        onnx_sha256=sha256_file(path) if checksum else "",
        notes="random weights, for tests only",
    ))
    return path


def make_voice_model(
    path: Path,
    labels: list[str] = RAVDESS_LABELS,
    seed: int = 0,
    features: dict[str, Any] | None = None,
    min_seconds: float = 0.5,
    max_seconds: float = 5.0,
    probabilities: bool = True,
    *,
    pooling: str = "max",
    input_name: str = "features",
    name: str = "tiny-voice",
    weight_std: float = 0.5,
    bias_std: float = 0.2,
    max_input_seconds: float | None = None,
) -> Path:
    """(N, T, D) -> max (or mean) over frames -> linear (-> softmax), with a voice card beside it.

    Max pooling by default: the mean of utterance-normalised frames is zero.
    """
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import sha256_file
    from emorec.voice.features import FeatureConfig

    if pooling not in ("max", "mean"):
        raise ValueError("pooling must be 'max' or 'mean'")
    cfg = FeatureConfig.from_dict(features or {})
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, weight_std, (cfg.dim, len(labels))).astype(np.float32)
    bias = rng.normal(0, bias_std, len(labels)).astype(np.float32)
    reduce = "ReduceMax" if pooling == "max" else "ReduceMean"
    nodes = [
        helper.make_node(reduce, [input_name, "axes"], ["pooled"], keepdims=0),
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
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", "T", cfg.dim])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", len(labels)])],
        initializer=[
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(bias, "B"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
        ],
    )
    path = _save(graph, path, 18)
    write_card(path, dict(name=name, task="voice", labels=list(labels),
                          input={"sample_rate": cfg.sample_rate, "features": cfg.to_dict(), "min_seconds": min_seconds,
                                 "max_seconds": max_seconds, "outputs_probabilities": probabilities,
                                 **({"max_input_seconds": max_input_seconds} if max_input_seconds else {})},
                          architecture=f"{pooling}-pooled linear (synthetic test model)",
                          onnx_sha256=sha256_file(path), notes="random weights, for tests only"))
    return path
