"""Torch CNNs for 48x48 grayscale faces (training only; inference uses ONNX).

- ``dcnn``: the original notebooks' DCNN (Keras: 5x5/3x3 conv blocks 64-128-256,
  dense 128), kept as the baseline configuration.
- ``emonet``: the default, a compact residual network designed for CPU speed:
  a cheap stem at full resolution, most width at 24x24 and below.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from emorec.registry import Registry


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DCNN(nn.Module):
    """The original notebook's DCNN (Keras Sequential), re-expressed in PyTorch."""

    def __init__(self, n_classes: int, dropout: float = 0.4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(1, 64, 5), _conv_bn(64, 64, 5), nn.MaxPool2d(2), nn.Dropout(dropout),
            _conv_bn(64, 128, 3), _conv_bn(128, 128, 3), nn.MaxPool2d(2), nn.Dropout(dropout),
            _conv_bn(128, 256, 3), _conv_bn(256, 256, 3), nn.MaxPool2d(2), nn.Dropout(0.5),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(256 * 6 * 6, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Dropout(0.6), nn.Linear(128, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.short is None else self.short(x)), inplace=True)


class EmoNet(nn.Module):
    """Residual CNN: stem 48x48 -> stages at 24, 12, 6 -> global pool -> linear."""

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (32, 64, 128, 256),
                 blocks: tuple[int, ...] = (1, 2, 2), dropout: float = 0.3) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(1, widths[0], 3), nn.MaxPool2d(2))  # 48 -> 24
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths[1:], blocks)):
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.drop(x))


def _emonet_large(n_classes: int) -> nn.Module:
    return EmoNet(n_classes, widths=(64, 128, 256, 512), blocks=(2, 2, 2))


def _emonet_small(n_classes: int) -> nn.Module:
    return EmoNet(n_classes, widths=(24, 48, 96, 192), blocks=(1, 2, 2))


# Face architectures by name (``emorec face train --model NAME``).
ARCHITECTURES: Registry[Callable[[int], nn.Module]] = Registry("face model")
ARCHITECTURES.register("emonet-small", _emonet_small)
ARCHITECTURES.register("dcnn", DCNN)
ARCHITECTURES.register("emonet", EmoNet)
ARCHITECTURES.register("emonet-large", _emonet_large)


def create_model(name: str, n_classes: int) -> nn.Module:
    """Build a face model by registry name (``dcnn``, ``emonet``, ``emonet-large``, ``emonet-small``).

    An unknown name is a :class:`~emorec.errors.UsageError` listing the known ones.
    """
    return ARCHITECTURES.get(name)(n_classes)
