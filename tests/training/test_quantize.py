"""Weight-only 4- and 8-bit storage: rounding is idempotent, the packer recognises each format from
the values, and the packed graph computes exactly what the rounded torch weights compute."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from emorec.training.export import export_checked  # noqa: E402
from emorec.training.quantize import (  # noqa: E402
    FORMATS, QUANTIZERS, dequantize, eligible, exact_format, pack_weights, round_weight)


def _weights(seed: int = 0) -> np.ndarray:
    """Heavy-tailed like trained weights, with an outlier column and a block that is all positive."""
    rng = np.random.default_rng(seed)
    w = rng.standard_t(4, (64, 96)).astype(np.float32) * 0.05
    w[:, 7] *= 20
    w[3, :32] = np.abs(w[3, :32]) + 0.3
    return w


@pytest.mark.parametrize("fmt", FORMATS)
def test_rounding_rounded_weights_changes_nothing(fmt):
    w = _weights()
    once = round_weight(w, fmt)
    assert not np.array_equal(once, w)
    np.testing.assert_array_equal(round_weight(once, fmt), once)
    np.testing.assert_array_equal(dequantize(fmt, QUANTIZERS[fmt](w), w.shape), once)
    assert exact_format(once) == fmt  # what the packer relies on
    assert exact_format(w) is None


def test_codes_stay_in_range_and_errors_are_bounded():
    w = _weights()
    codes, scale = QUANTIZERS["int4s"](w)
    assert codes.min() >= -7 and codes.max() <= 7 and scale.dtype == np.float16 and scale.shape == (64 * 3, 1)
    codes, scale, offset = QUANTIZERS["int4a"](w)
    assert codes.min() >= 0 and codes.max() <= 15 and offset.dtype == np.float16 and offset.shape == (64 * 3, 1)
    codes, scale = QUANTIZERS["int8"](w)
    assert codes.dtype == np.int8 and scale.shape == (64, 1)
    err = {f: float(((round_weight(w, f) - w) ** 2).mean()) for f in FORMATS}
    # the least-squares range search beats round-to-nearest from the largest magnitude; 8 bits beat both
    assert err["int8"] < err["int4a"] < err["int4s"]
    assert np.abs(round_weight(w, "int4s") - w).max() <= np.abs(w).max() / 7


def test_eligibility():
    assert not eligible((8, 20), "int4s") and not eligible((512, 80, 3), "int4a") and eligible((512, 512, 3), "int4a")
    assert eligible((512, 80, 3), "int8")
    w = np.ones((8, 20), np.float32) * 0.3
    np.testing.assert_array_equal(round_weight(w, "int4a"), w)  # too small: left as it is


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(32, 64, 3, padding=1)
        self.fc = torch.nn.Linear(64, 96)
        self.att = torch.nn.Linear(96, 96)
        self.head = torch.nn.Linear(96, 5)

    def forward(self, x):  # (batch, frames, 32)
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return torch.softmax(self.head(self.att(torch.relu(self.fc(h))).mean(1)), -1)


def test_packed_graph_matches_the_rounded_torch_model(tmp_path):
    torch.manual_seed(0)
    net = _Net().eval()
    with torch.no_grad():  # one matrix per format
        for layer, fmt in ((net.conv, "int4s"), (net.fc, "int4a"), (net.att, "int8")):
            layer.weight.copy_(torch.from_numpy(round_weight(layer.weight.numpy(), fmt)))
    out = tmp_path / "m.onnx"
    export_checked(net, (torch.zeros(1, 20, 32),), out, input_names=["features"],
                   dynamic_axes={"features": {1: "frames"}}, parity=lambda p: 0.0, compact=True, packed=True)
    import onnx

    graph = onnx.load(str(out)).graph
    stored = {i.name.rsplit("_", 1)[-1] for i in graph.initializer}
    assert {"q4", "q4s", "q4o", "q8", "q8s"} <= stored
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 37, 32)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], want, atol=1e-3)  # only the head is float16
    fp32 = tmp_path / "m32.onnx"
    export_checked(net, (torch.zeros(1, 20, 32),), fp32, input_names=["features"],
                   dynamic_axes={"features": {1: "frames"}}, parity=lambda p: 0.0, compact=False)
    assert out.stat().st_size < 0.45 * fp32.stat().st_size
    counts = pack_weights(fp32, tmp_path / "again.onnx")  # the same function on a saved float32 graph
    assert counts["int4s"] == 1 and counts["int4a"] == 1 and counts["int8"] == 1


def test_unrounded_weights_take_the_default_format(tmp_path):
    torch.manual_seed(0)
    net = _Net().eval()
    fp32 = tmp_path / "m32.onnx"
    export_checked(net, (torch.zeros(1, 20, 32),), fp32, input_names=["features"],
                   dynamic_axes={"features": {1: "frames"}}, parity=lambda p: 0.0, compact=False)
    counts = pack_weights(fp32, tmp_path / "m.onnx", default="int4a")
    assert counts.get("int4a") == 3 and "int8" not in counts  # conv, fc and att: every row a whole number of blocks
    assert pack_weights(fp32, tmp_path / "h.onnx", default=None).get("float16", 0) >= 3
