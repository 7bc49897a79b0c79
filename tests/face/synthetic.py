"""A tiny synthetic face ONNX model with its card, for tests and the speed benchmark fallback.

The model is built with onnx.helper (no torch, no download): Flatten -> MatMul
-> Add, i.e. a random linear classifier over the 48x48 crop, so different
crops get different, valid probability vectors.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from emorec.cards import ModelCard, card_path_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PHOTO = REPO / "examples" / "astronaut.jpg"
EXAMPLE_VIDEO = REPO / "examples" / "astronaut_pan.mp4"
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def make_face_model(
    path: Path,
    labels: list[str] | None = None,
    *,
    size: tuple[int, int] = (48, 48),
    n_outputs: int | None = None,
    fixed_batch: int | None = None,
    softmax: bool = False,
    task: str = "face",
    input_spec: dict | None = None,
    seed: int = 0,
) -> Path:
    """Write ``path`` (.onnx) and its card (.json); return the .onnx path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    labels = list(labels or FER_LABELS)
    n_out = n_outputs or len(labels)
    h, w = size
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 0.05, size=(h * w, n_out)).astype(np.float32)
    bias = rng.normal(0.0, 0.1, size=(n_out,)).astype(np.float32)
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    spec = {
        "size": [h, w],
        "channels": 1,
        "layout": "NCHW",
        "scale": 1 / 255,
        "mean": 0.5,
        "std": 0.5,
        "margin": 0.15,
        "interpolation": "area",
        "outputs_probabilities": softmax,
    }
    spec.update(input_spec or {})
    ModelCard(
        name="tiny-synthetic-face",
        task=task,
        labels=labels,
        input=spec,
        architecture="linear (synthetic test model)",
        notes="random weights, for tests only",
    ).save(card_path_for(path))
    return path
