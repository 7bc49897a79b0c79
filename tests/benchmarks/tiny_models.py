"""A tiny face ONNX model plus card, built with the onnx helper API (no torch, no downloads)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def tiny_face_model(path: Path, labels: list[str] = FER_LABELS, size: int = 48, seed: int = 0) -> Path:
    """Flatten -> MatMul -> Add: logits for (N, 1, size, size) inputs; writes ``path`` and its card."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emorec.cards import ModelCard, sha256_file

    rng = np.random.default_rng(seed)
    n_in, n_out = size * size, len(labels)
    weight = numpy_helper.from_array(rng.normal(0, 0.01, (n_in, n_out)).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(n_out, dtype=np.float32), "B")
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    ModelCard(
        name="tiny-face", task="face", labels=list(labels),
        input={"size": [size, size], "channels": 1, "layout": "NCHW", "scale": 1 / 255, "mean": 0.5, "std": 0.5},
        architecture="linear", onnx_sha256=sha256_file(path),
    ).save(path.with_suffix(".json"))
    return path
