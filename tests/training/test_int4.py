"""4-bit weight storage: the packed graph computes exactly what the rounded torch weights compute."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from emorec.training.export import (  # noqa: E402
    compact_int4, export_checked, int4_dequantize, int4_eligible, int4_quantize, int4_round)


def test_codes_are_4_bit_and_requantising_changes_nothing():
    w = np.random.default_rng(0).standard_normal((64, 96)).astype(np.float32)
    codes, scale = int4_quantize(w)
    assert codes.min() >= -7 and codes.max() <= 7 and scale.dtype == np.float16 and scale.shape == (64 * 3, 1)
    again = int4_round(int4_round(w))
    np.testing.assert_array_equal(again, int4_round(w))
    np.testing.assert_array_equal(int4_dequantize(codes, scale, w.shape), int4_round(w))
    assert np.abs(int4_round(w) - w).max() <= np.abs(w).max() / 7  # at most half a step of the largest scale
    assert not int4_eligible((8, 20)) and not int4_eligible((512, 80, 3)) and int4_eligible((512, 512, 3))


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(32, 64, 3, padding=1)
        self.fc = torch.nn.Linear(64, 96)
        self.head = torch.nn.Linear(96, 5)

    def forward(self, x):  # (batch, frames, 32)
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return torch.softmax(self.head(torch.relu(self.fc(h)).mean(1)), -1)


def test_packed_graph_matches_the_rounded_torch_model(tmp_path):
    torch.manual_seed(0)
    net = _Net().eval()
    with torch.no_grad():
        for layer in (net.conv, net.fc):
            layer.weight.copy_(torch.from_numpy(int4_round(layer.weight.numpy())))
    out = tmp_path / "m.onnx"
    export_checked(net, (torch.zeros(1, 20, 32),), out, input_names=["features"],
                   dynamic_axes={"features": {1: "frames"}}, parity=lambda p: 0.0, compact=True, int4=True)
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"Mod", "Div", "Cast"} <= ops
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 37, 32)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], want, atol=1e-3)  # only the head is float16
    fp32 = tmp_path / "m32.onnx"
    export_checked(net, (torch.zeros(1, 20, 32),), fp32, input_names=["features"],
                   dynamic_axes={"features": {1: "frames"}}, parity=lambda p: 0.0, compact=False)
    assert out.stat().st_size < 0.4 * fp32.stat().st_size
    compact_int4(fp32, tmp_path / "again.onnx")  # the same function on a saved float32 graph
