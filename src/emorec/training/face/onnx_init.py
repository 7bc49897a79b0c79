"""Start training from a shipped (int8 QDQ) face ONNX model instead of from scratch.

The exported graph has batch norm folded into the convolutions and the
weights stored as int8 with per-channel scales. :func:`load_onnx_weights`
dequantises every Conv / Gemm initialiser and writes it into the matching
torch module (found by the module path in the ONNX node name). Each folded
batch norm is then re-created so the network computes the same function in
both modes: after a pass over calibration images gives the real mean / std
of each conv output, the BN gets running stats (mu, sigma^2) and affine
(gamma=sigma, beta=mu+bias), which is the identity-plus-bias the ONNX graph
computes, and batch statistics in training mode stay close to it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


def _initialisers(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _dequantised(model) -> dict[str, np.ndarray]:
    """Every tensor name produced by a DequantizeLinear of constants, as float32, plus float initialisers."""
    init = _initialisers(model)
    values = {k: v.astype(np.float32) for k, v in init.items() if v.dtype == np.float32}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in init:
            continue
        q = init[node.input[0]].astype(np.float32)
        scale = init[node.input[1]].astype(np.float32)
        zero = init[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        values[node.output[0]] = (q - zero) * scale
    return values


def load_onnx_weights(module: nn.Module, onnx_path: str | Path, calibration: torch.Tensor | None = None) -> list[str]:
    """Copy the ONNX model's weights into ``module`` (an EmoNet); returns the module paths set.

    ``calibration`` (N, C, H, W normalised inputs) sets the re-created batch-norm
    statistics; without it BNs are plain identity-plus-bias (fine for evaluation only).
    """
    import onnx

    model = onnx.load(str(onnx_path))
    values = _dequantised(model)
    modules = dict(module.named_modules())
    done: list[str] = []
    bn_bias: dict[str, torch.Tensor] = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        path = node.name.strip("/").split("/")
        parts = [p for p in path[1:-1]]  # drop the wrapper ("model") and the op name
        # "/model/stem/stem.0/stem.0.0/Conv" -> stem.0.0 ; "/model/stages/stages.0/conv1/Conv" -> stages.0.conv1
        name = ".".join(parts[i].split(".")[-1] if i else parts[i] for i in range(len(parts)))
        name = name.replace("stem.stem.0.", "stem.0.").replace("stages.stages.", "stages.").replace("short.short.", "short.")
        name = _canonical(parts)
        w = torch.from_numpy(values[node.input[1]].copy())
        b = torch.from_numpy(values[node.input[2]].copy()) if len(node.input) > 2 else None
        target = modules.get(name)
        if target is None:
            raise KeyError(f"ONNX node {node.name} has no module {name!r} in the torch model")
        with torch.no_grad():
            if node.op_type == "Gemm":
                target.weight.copy_(w)
                target.bias.copy_(b)
            else:
                target.weight.copy_(w)
                bn_bias[_bn_for(name)] = b if b is not None else torch.zeros(w.shape[0])
        done.append(name)
    for bn_name, bias in bn_bias.items():
        bn = modules[bn_name]
        with torch.no_grad():
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    if calibration is not None:
        _calibrate(module, bn_bias, modules, calibration)
    return done


def _canonical(parts: list[str]) -> str:
    """ONNX scope parts ["model", "stem", "stem.0", "stem.0.0"] -> torch path "stem.0.0"."""
    parts = parts[1:] if parts and parts[0] == "model" else parts
    out: list[str] = []
    for p in parts:
        prefix = ".".join(out)
        if prefix and p.startswith(prefix.split(".")[-1] + ".") and "." in p:
            out.append(p.split(".")[-1])  # "stem.0" after "stem"
        elif p.startswith(prefix + ".") and prefix:
            out = p.split(".")
        else:
            out.append(p)
    return ".".join(out)


def _bn_for(conv_name: str) -> str:
    """The batch norm after a conv: stem.0.0 -> stem.0.1, conv1 -> bn1, short.0 -> short.1."""
    head, _, last = conv_name.rpartition(".")
    if last.startswith("conv"):
        return f"{head}.bn{last[4:]}"
    return f"{head}.{int(last) + 1}"


@torch.no_grad()
def _calibrate(module: nn.Module, bn_bias: dict[str, torch.Tensor], modules: dict[str, nn.Module],
               x: torch.Tensor) -> None:
    """Measure each conv output's mean / std (BN inputs) and set the BNs to reproduce identity + bias."""
    stats: dict[str, list[torch.Tensor]] = {k: [] for k in bn_bias}
    hooks = []
    for name in bn_bias:
        def hook(mod, inputs, _out, name=name):
            t = inputs[0]
            stats[name].append(torch.stack([t.mean((0, 2, 3)), (t * t).mean((0, 2, 3))]))
        hooks.append(modules[name].register_forward_hook(hook))
    was_training = module.training
    module.eval()
    for i in range(0, len(x), 256):
        module(x[i:i + 256])
    for h in hooks:
        h.remove()
    for name, bias in bn_bias.items():
        s = torch.stack(stats[name]).mean(0)
        mean, var = s[0], (s[1] - s[0] ** 2).clamp_min(1e-6)
        bn = modules[name]
        sigma = torch.sqrt(var + bn.eps)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(sigma)
        bn.bias.copy_(mean + bias)
    module.train(was_training)
