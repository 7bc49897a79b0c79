"""Every registered model trains a step, exports to ONNX and matches torch under onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from emorec.training.voice.models import MODELS, build_model, export_onnx  # noqa: E402


@pytest.mark.slow  # a training step and an ONNX export per architecture
@pytest.mark.parametrize("name", MODELS.list())
def test_model_step_export_and_parity(tmp_path, name):
    torch.manual_seed(0)
    dim = 162 if name.endswith("summary") else 192
    model = build_model(name, dim, 8)
    seq = model.input_kind == "sequence"
    x = torch.randn(4, 80, dim) if seq else torch.randn(4, dim)
    lengths = torch.tensor([80, 60, 33, 20]) if seq else None
    loss = torch.nn.functional.cross_entropy(model(x, lengths), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", dim)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in ((57, 311) if seq else (None,)):
        inp = np.random.default_rng(1).normal(size=(2, frames, dim) if seq else (3, dim)).astype(np.float32)
        got = session.run(None, {"features": inp})[0]
        with torch.no_grad():
            want = torch.softmax(model(torch.from_numpy(inp)), -1).numpy()
        assert np.allclose(got, want, atol=1e-5)
        assert np.allclose(got.sum(1), 1.0, atol=1e-5)


def test_padding_is_masked():
    torch.manual_seed(0)
    model = build_model("gru_attn", 192, 8).eval()
    x = torch.randn(1, 40, 192)
    padded = torch.cat([x, torch.zeros(1, 40, 192)], 1)
    with torch.no_grad():
        a = model(x)
        b = model(padded, torch.tensor([40]))
    # The forward GRU reads the real frames first, so masking the pooled padding keeps the result close.
    assert torch.allclose(a, b, atol=0.5)


def test_unknown_model_lists_the_registered_ones():
    from emorec.errors import UsageError

    with pytest.raises(UsageError, match="unknown voice model 'transformer'; known: cnn1d_summary, crnn"):
        build_model("transformer", 192, 8)


def test_frame_norm_matches_numpy_and_ignores_padding():
    from emorec.voice.features import normalize_utterance
    from emorec.training.voice.models import FrameNorm, frame_norm_numpy

    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 3.0, size=(50, 6)).astype(np.float32)
    norm = FrameNorm("utterance")
    got = norm(torch.from_numpy(a)[None])[0].numpy()
    assert np.allclose(got, normalize_utterance(a), atol=1e-4)
    assert np.allclose(got, frame_norm_numpy(a, "utterance"), atol=1e-4)
    padded = torch.cat([torch.from_numpy(a), torch.full((30, 6), 99.0)])[None]
    masked = norm(padded, torch.tensor([50]))[0].numpy()
    assert np.allclose(masked[:50], got, atol=1e-4) and np.all(masked[50:] == 0)
    assert np.array_equal(FrameNorm("none")(padded), padded)


def test_ensemble_exports_mean_probabilities(tmp_path):
    from emorec.training.voice.models import Ensemble

    torch.manual_seed(0)
    members = [build_model("gru_attn", 192, 4, channels=16, hidden=16, frame_norm=m).eval() for m in ("utterance", "none")]
    ens = Ensemble(members).eval()
    path = export_onnx(ens, tmp_path / "ens.onnx", 192)
    x = np.random.default_rng(2).normal(size=(1, 90, 192)).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    with torch.no_grad():
        want = np.mean([torch.softmax(m(torch.from_numpy(x)), -1).numpy() for m in members], axis=0)
    assert np.allclose(got, want, atol=1e-5)
