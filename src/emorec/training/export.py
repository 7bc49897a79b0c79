"""One export path for both modalities: ONNX graph, parity check, compact weights, model card.

- :func:`export_onnx` traces a face model (softmax at the end, optional mirror
  averaging ``tta_flip``); voice graphs come from :func:`emorec.training.voice.models.export_onnx`.
- :func:`check_parity` runs the exported file under ONNX Runtime and compares it
  with torch on the same input: every export calls it before writing a card.
- :func:`quantize_int8` (static, calibrated) and :func:`compact_weights` (int8 +
  float16, no calibration) shrink a checked float32 graph.
- :func:`write_card` writes the card with the same keys for both sides, the
  licence taken from the training data's entries in :mod:`emorec.datasets.registry`.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emorec import __version__
from emorec.cards import ModelCard, sha256_file
from emorec.errors import EmorecError


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module, tta_flip: bool) -> None:
        super().__init__()
        self.model, self.tta_flip = model, tta_flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(self.model(x), dim=1)
        if self.tta_flip:
            p = (p + torch.softmax(self.model(torch.flip(x, dims=[3])), dim=1)) / 2
        return p


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, tta_flip: bool = False,
                dynamic_axes: dict[str, dict[int, str]] | None = None) -> Path:
    """Trace ``model`` (with softmax, optional flip averaging) to ONNX opset 17."""
    wrapped = _Probabilities(model.cpu().eval(), tta_flip).eval()
    axes = dynamic_axes or {"input": {0: "batch"}, "probabilities": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(wrapped, example, str(path), input_names=["input"], output_names=["probabilities"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on real inputs."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": calibration[i : i + 64]} for i in range(0, len(calibration), 64)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        quantize_static(str(pre), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out_path


COMPACT_NOTE = ("int8 dynamic quantisation of MatMul/Conv/LSTM weights; the remaining large weights "
                "(GRU) stored as float16 and cast to float32 when the session loads")


def compact_weights(fp32_path: Path, out_path: Path, min_elements: int = 1024,
                    int8_ops: Sequence[str] | None = None) -> Path:
    """Shrink a recurrent model about fourfold without calibration data.

    ONNX Runtime's dynamic quantisation covers MatMul, Conv and LSTM but not GRU,
    so every float32 initializer it leaves (with at least ``min_elements`` values)
    is stored as float16 behind a Cast node, which ONNX Runtime folds at load time.
    ``int8_ops`` limits the int8 step to those operator types (a frozen encoder's
    LSTM loses too much in int8: the fused voice model keeps it in float16); an empty
    sequence skips it (float16 storage only).
    """
    import onnx
    from onnx import helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if int8_ops is not None and not list(int8_ops):  # float16 storage only (ORT reads [] as "every op")
        model = onnx.load(str(fp32_path))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            quantized = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32_path), str(quantized), weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(int8_ops) if int8_ops is not None else None)
            model = onnx.load(str(quantized))
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_elements:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
    for node in reversed(casts):  # before every consumer: the graph stays topologically sorted
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


INT4_BLOCK = 32  # weights per float16 scale


def int4_eligible(shape: Sequence[int], block: int = INT4_BLOCK, min_elements: int = 4096) -> bool:
    """Whether a (out, ...) weight is stored in 4 bits: big enough, rows a whole number of blocks."""
    rows = int(np.prod(shape[1:])) if len(shape) > 1 else 0
    return rows > 0 and rows % block == 0 and int(np.prod(shape)) >= min_elements


def int4_quantize(w: np.ndarray, block: int = INT4_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric round-to-nearest 4-bit codes of ``w`` (out, ...) in blocks of ``block`` along each
    row: (codes in [-7, 7] as int8, one float16 scale per block). Quantising the dequantised
    weights again gives the same codes (the largest code of a block is always +-7)."""
    flat = np.asarray(w, dtype=np.float32).reshape(-1, block)
    scale = (np.abs(flat).max(1, keepdims=True) / 7.0).astype(np.float16)
    scale[scale == 0] = 1.0
    codes = np.clip(np.round(flat / scale.astype(np.float32)), -7, 7).astype(np.int8)
    return codes, scale


def int4_dequantize(codes: np.ndarray, scale: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The float32 weights the 4-bit graph computes with (as its unpacking nodes do)."""
    return (codes.astype(np.float32) * scale.astype(np.float32)).reshape(shape)


def int4_round(w: np.ndarray) -> np.ndarray:
    """``w`` as the 4-bit graph sees it (unchanged when not :func:`int4_eligible`)."""
    if not int4_eligible(w.shape):
        return np.asarray(w, dtype=np.float32)
    return int4_dequantize(*int4_quantize(w), w.shape)


def compact_int4(fp32_path: Path, out_path: Path, min_elements: int = 1024) -> Path:
    """Store MatMul and Conv weights in 4 bits (:func:`int4_quantize`, two codes per byte) and every
    other float32 initializer of at least ``min_elements`` values as float16; unpacking nodes turn
    them back into float32 weights, which ONNX Runtime folds once when the session loads, so the
    computation is float32. Train on :func:`int4_round` weights and the graph computes what
    training saw."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32_path))
    graph = model.graph
    weight_of = {}  # initializer -> "MatMul" (stored (in, out): rows are its columns) or "Conv"
    for node in graph.node:
        if node.op_type in ("MatMul", "Conv") and len(node.input) > 1:
            weight_of[node.input[1]] = node.op_type
    nodes, consts = [], []

    def const(name: str, value: np.ndarray) -> str:
        consts.append(numpy_helper.from_array(value, name))
        return name

    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_elements:
            continue
        w = numpy_helper.to_array(init)
        n = init.name
        kind = weight_of.get(n)
        rows = w.T if kind == "MatMul" and w.ndim == 2 else w
        graph.initializer.remove(init)
        if kind and int4_eligible(rows.shape):
            codes, scale = int4_quantize(rows)
            u = (codes.reshape(-1).astype(np.int16) + 8).astype(np.uint8)
            const(n + "_q4", (u[0::2] | (u[1::2] << 4)).astype(np.uint8))
            const(n + "_q4s", scale)
            nodes += [helper.make_node("Cast", [n + "_q4"], [n + "_i"], to=onnx.TensorProto.INT32),
                      helper.make_node("Mod", [n + "_i", const(n + "_16", np.array([16], np.int32))], [n + "_lo"]),
                      helper.make_node("Div", [n + "_i", n + "_16"], [n + "_hi"]),
                      helper.make_node("Unsqueeze", [n + "_lo", const(n + "_ax", np.array([-1], np.int64))], [n + "_l"]),
                      helper.make_node("Unsqueeze", [n + "_hi", n + "_ax"], [n + "_h"]),
                      helper.make_node("Concat", [n + "_l", n + "_h"], [n + "_pairs"], axis=-1),
                      helper.make_node("Reshape", [n + "_pairs", const(n + "_blk", np.array([-1, INT4_BLOCK], np.int64))],
                                       [n + "_b"]),
                      helper.make_node("Cast", [n + "_b"], [n + "_f"], to=onnx.TensorProto.FLOAT),
                      helper.make_node("Sub", [n + "_f", const(n + "_8", np.array([8.0], np.float32))], [n + "_c"]),
                      helper.make_node("Cast", [n + "_q4s"], [n + "_s"], to=onnx.TensorProto.FLOAT),
                      helper.make_node("Mul", [n + "_c", n + "_s"], [n + "_dq"])]
            if rows is w:
                nodes.append(helper.make_node("Reshape", [n + "_dq", const(n + "_shape", np.array(w.shape, np.int64))], [n]))
            else:
                nodes += [helper.make_node("Reshape", [n + "_dq", const(n + "_shape", np.array(rows.shape, np.int64))],
                                           [n + "_rows"]),
                          helper.make_node("Transpose", [n + "_rows"], [n], perm=[1, 0])]
        else:
            const(n + "_fp16", w.astype(np.float16))
            nodes.append(helper.make_node("Cast", [n + "_fp16"], [n], to=onnx.TensorProto.FLOAT))
    graph.initializer.extend(consts)
    for node in reversed(nodes):  # before every consumer: the graph stays topologically sorted
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


def export_checked(module: nn.Module, example: tuple, out: Path, *, input_names: list[str],
                   dynamic_axes: dict[str, dict[int, str]], parity: Callable[[Path], float], compact: bool,
                   int8_ops: Sequence[str] | None = None, int4: bool = False) -> float:
    """Export ``module`` to ``out`` (output ``probabilities``, opset 17), check the float32 graph with
    ``parity(path) -> max difference`` (which raises when it is too large), then store compact
    weights (:func:`compact_weights`, or :func:`compact_int4` with ``int4``) or keep float32;
    returns the parity difference."""
    import warnings

    fp32 = out.with_name(out.stem + ".fp32.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(fp32), input_names=input_names, output_names=["probabilities"],
                          opset_version=17, dynamo=False, dynamic_axes=dynamic_axes)
    try:
        diff = parity(fp32)
        if compact and int4:
            compact_int4(fp32, out)
        elif compact:
            compact_weights(fp32, out, int8_ops=int8_ops)
        else:
            fp32.replace(out)
    finally:
        fp32.unlink(missing_ok=True)
    return diff


def check_parity(onnx_path: Path, inputs: np.ndarray, torch_probabilities: Callable[[torch.Tensor], torch.Tensor],
                 *, atol: float = 1e-4, what: str = "the model") -> float:
    """Max |ONNX - torch| on ``inputs``; raise EmorecError when it exceeds ``atol``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    with torch.no_grad():
        want = torch_probabilities(torch.from_numpy(inputs)).float().numpy()
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    if got.shape != want.shape or not np.allclose(got, want, atol=atol):
        raise EmorecError(f"ONNX export of {what} disagrees with torch (max diff {diff:.2e})")
    return diff


def face_probabilities(model: nn.Module, tta_flip: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the exported face graph computes, in torch (for :func:`check_parity`)."""
    return _Probabilities(model.cpu().eval(), tta_flip).eval()


def write_card(onnx_path: Path, *, datasets: Iterable[str] = (), license: str | None = None, **fields: Any) -> Path:
    """Write ``onnx_path``'s card (checksum, version); ``license`` defaults to the datasets' terms."""
    from emorec.datasets.registry import dataset_license

    if license is None:
        license = dataset_license(datasets, fallback="see the training data's terms")
    card = ModelCard(onnx_sha256=sha256_file(onnx_path), emorec_version=__version__, license=license, **fields)
    return card.save(onnx_path.with_suffix(".json"))


def corpus_names(specs: Iterable[str]) -> list[str]:
    """Dataset names of ``--corpus`` specs (``NAME`` or ``NAME=PATH``)."""
    return [str(s).partition("=")[0].strip().lower().replace("-", "") for s in specs]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise EmorecError(f"{run_dir} has no metrics.json: the run did not finish")
    return json.loads(path.read_text(encoding="utf-8"))


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The card's summary of a metrics.json (pooled scores for k-fold runs)."""
    m = metrics.get("pooled", metrics)
    out = {k: m.get(k) for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}
    if "across_folds" in metrics:
        out["across_folds"] = metrics["across_folds"]
    return out
