"""Voice emotion models (torch; imported only by training and export).

Registry (``build_model(name, ...)``):

- ``gru_attn`` (default): a small 1-D conv front-end that downsamples time 4x,
  a 2-layer bidirectional GRU and attention pooling over frames.
- ``lstm_attn``: the same with an LSTM.
- ``crnn``: 2-D conv blocks over (time, mel) with the deltas as channels,
  then a bidirectional GRU and attention pooling.
- ``cnn1d_summary`` and ``lstm_summary``: the original notebook's 1D-CNN and
  LSTM over the 162-value summary vector (baselines; any vector feature works).

Every model takes ``(batch, frames, dim)`` (or ``(batch, dim)`` for vectors)
plus optional ``lengths`` and returns logits. All export to ONNX with dynamic
batch and time axes (:func:`export_onnx`) and run under onnxruntime.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emorec.registry import Registry


class InputNorm(nn.Module):
    """Per-channel standardisation with statistics fitted on the training fold (buffers, so it exports)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_stats(self, mean, std) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.clamp(torch.as_tensor(std, dtype=torch.float32), min=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FrameNorm(nn.Module):
    """Per-utterance standardisation of every channel over the real (unpadded) frames.

    ``mode="utterance"`` makes the model see utterance-normalised features whatever
    the feature config did (a constant offset per clip cancels); ``"none"`` is identity.
    Lives in the graph so that members of one ensemble can normalise differently.
    """

    def __init__(self, mode: str = "none") -> None:
        super().__init__()
        if mode not in ("none", "utterance"):
            raise ValueError("frame_norm must be 'none' or 'utterance'")
        self.mode = mode

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "none":
            return x
        if lengths is None:
            mean = x.mean(dim=1, keepdim=True)
            std = ((x - mean) ** 2).mean(dim=1, keepdim=True).sqrt()
            return (x - mean) / (std + 1e-5)
        m = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1).to(x.dtype)
        n = m.sum(dim=1, keepdim=True).clamp_min(1.0)
        mean = (x * m).sum(dim=1, keepdim=True) / n
        std = ((((x - mean) * m) ** 2).sum(dim=1, keepdim=True) / n).sqrt()
        return (x - mean) / (std + 1e-5) * m


def frame_norm_numpy(feats, mode: str):
    """The numpy twin of :class:`FrameNorm` for one unpadded (frames, dim) array."""
    if mode == "none":
        return feats
    mean = feats.mean(axis=0, keepdims=True)
    return (feats - mean) / (feats.std(axis=0, keepdims=True) + 1e-5)


def _mask(lengths: torch.Tensor | None, t: int, device) -> torch.Tensor | None:
    if lengths is None:
        return None
    return torch.arange(t, device=device)[None, :] < lengths[:, None]


class AttentionPool(nn.Module):
    """Additive attention over time: weights = softmax(v . tanh(W h)), padded frames masked."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        s = self.score(torch.tanh(self.proj(h))).squeeze(-1)
        if mask is not None:
            s = s.masked_fill(~mask, -1e4)
        w = torch.softmax(s, dim=1)
        return torch.bmm(w.unsqueeze(1), h).squeeze(1)


def _downsampled(lengths: torch.Tensor | None, factor: int) -> torch.Tensor | None:
    if lengths is None:
        return None
    return torch.clamp((lengths + factor - 1) // factor, min=1)


class RnnAttention(nn.Module):
    """Conv1d front-end (time /4) -> BiGRU/BiLSTM -> attention pooling -> linear."""

    input_kind = "sequence"
    min_frames = 4

    def __init__(self, input_dim: int, n_classes: int, channels: int = 128, hidden: int = 128,
                 layers: int = 2, dropout: float = 0.3, cell: str = "gru", frame_norm: str = "none") -> None:
        super().__init__()
        self.frame_norm = FrameNorm(frame_norm)
        self.norm = InputNorm(input_dim)
        self.front = nn.Sequential(
            nn.Conv1d(input_dim, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Dropout(dropout / 2),
        )
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(channels, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                       dropout=dropout if layers > 1 else 0.0)
        self.pool = AttentionPool(2 * hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.front(self.norm(self.frame_norm(x, lengths)).transpose(1, 2)).transpose(1, 2)
        h, _ = self.rnn(h)
        return self.head(self.pool(h, _mask(_downsampled(lengths, 4), h.shape[1], h.device)))


class CRNN(nn.Module):
    """2-D conv blocks over (time, mel) with static/delta blocks as channels -> BiGRU -> attention."""

    input_kind = "sequence"
    min_frames = 8

    def __init__(self, input_dim: int, n_classes: int, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 96),
                 hidden: int = 128, dropout: float = 0.3, frame_norm: str = "none") -> None:
        super().__init__()
        self.frame_norm = FrameNorm(frame_norm)
        if input_dim % in_channels:
            raise ValueError(f"input_dim {input_dim} is not divisible by {in_channels} channel blocks")
        self.in_channels = in_channels
        self.bands = input_dim // in_channels
        self.norm = InputNorm(input_dim)
        blocks: list[nn.Module] = []
        c = in_channels
        for w in widths:
            blocks += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.conv = nn.Sequential(*blocks, nn.Dropout(dropout / 2))
        self.factor = 2 ** len(widths)
        freq_out = self.bands // self.factor
        self.proj = nn.Linear(c * freq_out, 2 * hidden)
        self.rnn = nn.GRU(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        b, t, _ = x.shape
        x = self.norm(self.frame_norm(x, lengths)).reshape(b, t, self.in_channels, self.bands).permute(0, 2, 1, 3)
        h = self.conv(x)  # (b, c, t/f, bands/f)
        h = h.permute(0, 2, 1, 3).flatten(2)
        h, _ = self.rnn(torch.relu(self.proj(h)))
        return self.head(self.pool(h, _mask(_downsampled(lengths, self.factor), h.shape[1], h.device)))


class SummaryCNN(nn.Module):
    """The original notebook's Conv1D stack over the 162-value vector (channels 256-256-128-64)."""

    input_kind = "vector"
    min_frames = 1

    def __init__(self, input_dim: int, n_classes: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.norm = InputNorm(input_dim)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, 5, padding=2), nn.ReLU(), nn.MaxPool1d(5, stride=2, padding=2)]

        self.conv = nn.Sequential(*block(1, 256), *block(256, 256), *block(256, 128), nn.Dropout(dropout), *block(128, 64))
        length = input_dim
        for _ in range(4):
            length = (length - 1) // 2 + 1
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * length, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.conv(self.norm(x).unsqueeze(1)))


class SummaryLSTM(nn.Module):
    """An LSTM reading the summary vector as a sequence of scalars (the notebook's LSTM variant)."""

    input_kind = "vector"
    min_frames = 1

    def __init__(self, input_dim: int, n_classes: int, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.norm = InputNorm(input_dim)
        self.rnn = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 64), nn.ReLU(), nn.Linear(64, n_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h, _ = self.rnn(self.norm(x).unsqueeze(-1))
        return self.head(h[:, -1])


# Voice architectures by name (``emorec voice train --model NAME``): factory(input_dim, n_classes, **kwargs).
MODELS: Registry[Callable[..., nn.Module]] = Registry("voice model")
MODELS.register("gru_attn", lambda d, n, **kw: RnnAttention(d, n, cell="gru", **kw))
MODELS.register("lstm_attn", lambda d, n, **kw: RnnAttention(d, n, cell="lstm", **kw))
MODELS.register("crnn", lambda d, n, **kw: CRNN(d, n, **kw))
MODELS.register("cnn1d_summary", lambda d, n, **kw: SummaryCNN(d, n, **kw))
MODELS.register("lstm_summary", lambda d, n, **kw: SummaryLSTM(d, n, **kw))
DEFAULT_MODEL = "gru_attn"
VECTOR_MODELS = ("cnn1d_summary", "lstm_summary")


def build_model(name: str, input_dim: int, n_classes: int, **kwargs: Any) -> nn.Module:
    """Instantiate a registered model.

    >>> build_model("gru_attn", 192, 8)(torch.zeros(2, 50, 192)).shape
    torch.Size([2, 8])
    """
    return MODELS.get(name)(input_dim, n_classes, **kwargs)  # unknown name: UsageError listing the known ones


class Ensemble(nn.Module):
    """Average of several trained models' probabilities; returns log-probabilities (softmax recovers the mean)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.input_kind = getattr(members[0], "input_kind", "sequence")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x, lengths), dim=-1) for m in self.members]).mean(0)
        return torch.log(probs.clamp_min(1e-12))


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


def export_onnx(model: nn.Module, path: str | Path, input_dim: int, opset: int = 17) -> Path:
    """Write ``model`` as ONNX (input ``features``, output ``probabilities``).

    Sequence models get dynamic batch and time axes; vector models a dynamic batch.
    """
    import warnings

    path = Path(path)
    model = model.eval().cpu()
    wrapped = _Probabilities(model).eval()
    sequence = getattr(model, "input_kind", "sequence") == "sequence"
    example = torch.zeros(1, 64, input_dim) if sequence else torch.zeros(1, input_dim)
    axes = {"features": {0: "batch", 1: "frames"} if sequence else {0: "batch"}, "probabilities": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped, (example,), str(path), input_names=["features"], output_names=["probabilities"],
            dynamic_axes=axes, opset_version=opset, dynamo=False,
        )
    return path
