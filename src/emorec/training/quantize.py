"""Weight-only quantisation of MatMul and Conv weights, stored losslessly in the ONNX graph.

The recipe is: round a torch model's weights with :func:`round_weight` (one format per
matrix, chosen by the caller), train on what that model computes, export it, then
:func:`pack_weights` stores each rounded matrix in the smallest format that reproduces it
exactly. Unpacking nodes turn the codes back into float32 weights, which ONNX Runtime folds
once when the session loads, so the graph computes in float32 exactly what training saw.

Formats (a weight is seen as rows: torch's ``(out, in, ...)``, blocks along each row):

- ``int4s``: symmetric 4-bit, codes in [-7, 7], one float16 scale per 32 weights
  (round to nearest from the block's largest magnitude);
- ``int4a``: asymmetric 4-bit, codes in [0, 15], a float16 scale and a float16 offset
  per 32 weights; the block's range is shrunk about its midpoint by the factor (from
  1.0 down to 0.6) with the least squared error, so outliers cost the other weights less;
- ``int8``: symmetric 8-bit, one float16 scale per row.

Every format is idempotent (rounding rounded weights changes nothing), which is what lets
the packer recognise a format from the values alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

BLOCK = 32  # weights per 4-bit scale
FORMATS = ("int4s", "int4a", "int8")  # smallest first: the packer takes the first that is exact
_SHRINK = np.linspace(1.0, 0.6, 21)  # int4a: candidate range factors, 1.0 first (ties keep the full range)


def eligible(shape: Sequence[int], fmt: str, min_elements: int = 4096) -> bool:
    """Whether a weight of ``shape`` (rows first) can be stored in ``fmt``."""
    row = int(np.prod(shape[1:])) if len(shape) > 1 else 0
    if row == 0 or int(np.prod(shape)) < min_elements:
        return False
    return fmt == "int8" or row % BLOCK == 0


def _rows(w: np.ndarray) -> np.ndarray:
    return np.asarray(w, dtype=np.float32).reshape(w.shape[0], -1)


def quantize_int4s(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes int8 in [-7, 7] per block of :data:`BLOCK`, float16 scales (blocks, 1))."""
    flat = _rows(w).reshape(-1, BLOCK)
    scale = (np.abs(flat).max(1, keepdims=True) / 7.0).astype(np.float16)
    scale[scale == 0] = 1.0
    codes = np.clip(np.round(flat / scale.astype(np.float32)), -7, 7).astype(np.int8)
    return codes, scale


def quantize_int4a(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes uint8 in [0, 15] per block, float16 scales, float16 offsets (blocks, 1)); the
    weights are ``codes * scale + offset``."""
    flat = _rows(w).reshape(-1, BLOCK)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    best = None
    for a in _SHRINK:
        offset = (mid - a * half).astype(np.float16)
        scale = (2 * a * half / 15).astype(np.float16)
        scale[scale == 0] = 1.0
        s, o = scale.astype(np.float32), offset.astype(np.float32)
        codes = np.clip(np.round((flat - o) / s), 0, 15)
        err = ((codes * s + o - flat) ** 2).sum(1, keepdims=True)
        if best is None:
            best = [err, codes, scale, offset]
            continue
        better = err < best[0]
        best = [np.where(better, err, best[0]), np.where(better, codes, best[1]),
                np.where(better, scale, best[2]), np.where(better, offset, best[3])]
    return best[1].astype(np.uint8), best[2], best[3]


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes int8 in [-127, 127] (rows, row length), float16 scales (rows, 1))."""
    rows = _rows(w)
    scale = (np.abs(rows).max(1, keepdims=True) / 127.0).astype(np.float16)
    scale[scale == 0] = 1.0
    codes = np.clip(np.round(rows / scale.astype(np.float32)), -127, 127).astype(np.int8)
    return codes, scale


def dequantize(fmt: str, parts: tuple[np.ndarray, ...], shape: Sequence[int]) -> np.ndarray:
    """The float32 weights the graph computes with (the unpacking nodes' arithmetic)."""
    codes = parts[0].astype(np.float32) * parts[1].astype(np.float32)
    if fmt == "int4a":
        codes = codes + parts[2].astype(np.float32)
    return codes.reshape(shape)


QUANTIZERS = {"int4s": quantize_int4s, "int4a": quantize_int4a, "int8": quantize_int8}


def round_weight(w: np.ndarray, fmt: str | None) -> np.ndarray:
    """``w`` (rows first) as the packed graph sees it in ``fmt``; unchanged (float32) when
    ``fmt`` is None or the shape is not :func:`eligible`."""
    w = np.asarray(w, dtype=np.float32)
    if fmt is None or not eligible(w.shape, fmt):
        return w
    return dequantize(fmt, QUANTIZERS[fmt](w), w.shape)


def exact_format(rows: np.ndarray) -> str | None:
    """The smallest format that reproduces ``rows`` exactly (already rounded), or None."""
    for fmt in FORMATS:
        if eligible(rows.shape, fmt) and np.array_equal(round_weight(rows, fmt), rows):
            return fmt
    return None


def pack_weights(fp32_path: Path, out_path: Path, default: str | None = None,
                 min_elements: int = 1024) -> dict[str, int]:
    """Store every MatMul/Conv weight of a saved float32 graph in the smallest format that holds
    it exactly (:func:`exact_format`), else in ``default`` (lossy; None: float16, the default), and every
    other float32 initializer of at least ``min_elements`` values as float16. Returns how many
    weights went into each format."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32_path))
    graph = model.graph
    weight_of = {}  # initializer -> "MatMul" (stored (in, out): rows are its columns) or "Conv"
    for node in graph.node:
        if node.op_type in ("MatMul", "Conv") and len(node.input) > 1:
            weight_of[node.input[1]] = node.op_type
    nodes, consts, counts = [], [], {}

    def const(name: str, value: np.ndarray) -> str:
        consts.append(numpy_helper.from_array(value, name))
        return name

    def cast(src: str, dst: str, to: int = onnx.TensorProto.FLOAT):
        return helper.make_node("Cast", [src], [dst], to=to)

    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < min_elements:
            continue
        w = numpy_helper.to_array(init)
        n = init.name
        kind = weight_of.get(n)
        rows = np.ascontiguousarray(w.T) if kind == "MatMul" and w.ndim == 2 else w
        fmt = exact_format(rows) if kind else None
        if kind and fmt is None and default is not None and eligible(rows.shape, default):
            fmt = default
        graph.initializer.remove(init)
        counts[fmt or "float16"] = counts.get(fmt or "float16", 0) + 1
        if fmt is None:
            nodes.append(cast(const(n + "_fp16", w.astype(np.float16)), n))
            continue
        parts = QUANTIZERS[fmt](rows)
        if fmt == "int8":
            nodes += [cast(const(n + "_q8", parts[0]), n + "_f"),
                      cast(const(n + "_q8s", parts[1]), n + "_s"),
                      helper.make_node("Mul", [n + "_f", n + "_s"], [n + "_dq"])]
        else:
            u = (parts[0].reshape(-1).astype(np.int16) + (8 if fmt == "int4s" else 0)).astype(np.uint8)
            const(n + "_q4", (u[0::2] | (u[1::2] << 4)).astype(np.uint8))
            nodes += [helper.make_node("Mod", [n + "_q4", const(n + "_16", np.array([16], np.uint8))], [n + "_lo"]),
                      helper.make_node("BitShift", [n + "_q4", const(n + "_4", np.array([4], np.uint8))], [n + "_hi"],
                                       direction="RIGHT"),
                      helper.make_node("Unsqueeze", [n + "_lo", const(n + "_ax", np.array([-1], np.int64))], [n + "_l"]),
                      helper.make_node("Unsqueeze", [n + "_hi", n + "_ax"], [n + "_h"]),
                      helper.make_node("Concat", [n + "_l", n + "_h"], [n + "_pairs"], axis=-1),
                      helper.make_node("Reshape", [n + "_pairs", const(n + "_blk", np.array([-1, BLOCK], np.int64))],
                                       [n + "_b"]),
                      cast(n + "_b", n + "_f"),
                      cast(const(n + "_q4s", parts[1]), n + "_s")]
            if fmt == "int4s":
                nodes += [helper.make_node("Sub", [n + "_f", const(n + "_8", np.array([8.0], np.float32))], [n + "_c"]),
                          helper.make_node("Mul", [n + "_c", n + "_s"], [n + "_dq"])]
            else:
                nodes += [helper.make_node("Mul", [n + "_f", n + "_s"], [n + "_m"]),
                          cast(const(n + "_q4o", parts[2]), n + "_o"),
                          helper.make_node("Add", [n + "_m", n + "_o"], [n + "_dq"])]
        if rows is w:
            nodes.append(helper.make_node("Reshape", [n + "_dq", const(n + "_shape", np.array(w.shape, np.int64))], [n]))
        else:
            nodes += [helper.make_node("Reshape", [n + "_dq", const(n + "_shape", np.array(rows.shape, np.int64))],
                                       [n + "_rows"]),
                      helper.make_node("Transpose", [n + "_rows"], [n], perm=[1, 0])]
    graph.initializer.extend(consts)
    for node in reversed(nodes):  # before every consumer: the graph stays topologically sorted
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return counts
