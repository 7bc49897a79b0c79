"""One export path for both modalities: ONNX graph, parity check, compact weights, model card.

- :func:`export_onnx` traces a face model (softmax at the end, optional mirror
  averaging ``tta_flip``); voice graphs come from :func:`emorec.training.voice.models.export_onnx`.
- :func:`check_parity` runs the exported file under ONNX Runtime and compares it
  with torch on the same input: every export calls it before writing a card.
- :func:`quantize_int8` (static, calibrated) and :func:`compact_weights` (int8 +
  float16, no calibration) shrink a checked float32 graph; weight-only 4- and 8-bit
  formats, rounded before training, are in :mod:`emorec.training.quantize`.
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


def export_checked(module: nn.Module, example: tuple, out: Path, *, input_names: list[str],
                   dynamic_axes: dict[str, dict[int, str]], parity: Callable[[Path], float], compact: bool,
                   int8_ops: Sequence[str] | None = None, packed: bool = False) -> float:
    """Export ``module`` to ``out`` (output ``probabilities``, opset 17), check the float32 graph with
    ``parity(path) -> max difference`` (which raises when it is too large), then store compact
    weights (:func:`compact_weights`, or with ``packed`` the module's pre-rounded weights losslessly,
    :func:`emorec.training.quantize.pack_weights`) or keep float32; returns the parity difference."""
    import warnings

    fp32 = out.with_name(out.stem + ".fp32.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(fp32), input_names=input_names, output_names=["probabilities"],
                          opset_version=17, dynamo=False, dynamic_axes=dynamic_axes)
    try:
        diff = parity(fp32)
        if compact and packed:
            from emorec.training.quantize import pack_weights

            pack_weights(fp32, out)
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
