"""Batch augmentation for 48x48 faces, on whatever device the batch is on.

Applied only to training batches (``FaceBatches(augment=...)``); validation and
test batches never pass through it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class FaceAugment:
    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 10.0  # max degrees
    shift: float = 0.08  # max fraction of the side
    scale: float = 0.10  # max relative zoom in/out
    erase: float = 0.25  # probability of one random erasing rectangle
    erase_max: float = 0.25  # max area fraction of that rectangle

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) float, already normalised."""
        n, _, h, w = x.shape
        dev = x.device
        angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(self.rotate)
        scale = 1 + (torch.rand(n, device=dev) * 2 - 1) * self.scale
        flip = torch.where(torch.rand(n, device=dev) < self.flip, -1.0, 1.0)
        tx = (torch.rand(n, device=dev) * 2 - 1) * self.shift * 2
        ty = (torch.rand(n, device=dev) * 2 - 1) * self.shift * 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.erase > 0:
            x = self._erase(x)
        return x

    def _erase(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        area = torch.rand(n, device=dev) * self.erase_max
        aspect = torch.exp((torch.rand(n, device=dev) - 0.5) * 2 * math.log(3))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
        y0 = torch.rand(n, device=dev) * (h - eh)
        x0 = torch.rand(n, device=dev) * (w - ew)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        mask = (ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1)) & (xs >= x0.view(n, 1, 1)) & (
            xs < (x0 + ew).view(n, 1, 1)
        )
        active = (torch.rand(n, device=dev) < self.erase).view(n, 1, 1)
        noise = torch.randn_like(x[:, 0])
        return torch.where((mask & active).unsqueeze(1), noise.unsqueeze(1), x)
