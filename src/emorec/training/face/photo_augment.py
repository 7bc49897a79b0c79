"""Real-photo augmentation for face crops: what detector crops of web photos look like.

Applied to training batches only. Geometry (scale / shift jitter like a
detector's boxes, small rotations, flips, occlusion) comes from
:class:`emorec.training.face.augment.FaceAugment`; this module adds the photometric
side of real photos: JPEG re-compression, blur and low resolution, sensor
noise, gamma / contrast / brightness changes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class PhotoAugment:
    jpeg: float = 0.3  # probability of a JPEG round trip
    jpeg_quality: tuple[int, int] = (20, 80)
    blur: float = 0.2  # probability of a Gaussian blur
    blur_sigma: tuple[float, float] = (0.4, 1.3)
    lowres: float = 0.2  # probability of down- then up-sampling (small faces)
    lowres_side: tuple[int, int] = (16, 36)
    noise: float = 0.2  # probability of Gaussian noise
    noise_std: float = 0.06  # max std in normalised units (about 8 grey levels)
    gamma: float = 0.5  # probability of gamma / contrast / brightness change
    gamma_range: tuple[float, float] = (0.6, 1.6)
    contrast: float = 0.3  # max relative contrast change
    brightness: float = 0.15  # max shift in normalised units

    def to_dict(self) -> dict:
        return asdict(self)

    def jpeg_uint8(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """JPEG round trip of a random subset of uint8 images (N, H, W), on the CPU with OpenCV."""
        import cv2

        out = images.copy()
        for i in np.flatnonzero(rng.random(len(images)) < self.jpeg):
            q = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            ok, buf = cv2.imencode(".jpg", images[i], [cv2.IMWRITE_JPEG_QUALITY, q])
            if ok:
                out[i] = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(images[i].shape)
        return out

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x: (N, C, H, W) float in [-1, 1] (normalised with mean 0.5, std 0.5)."""
        n, c, h, w = x.shape
        g = generator

        def pick(p: float) -> torch.Tensor:
            return torch.rand(n, generator=g) < p

        if self.lowres > 0:
            sel = pick(self.lowres)
            if sel.any():
                side = int(torch.randint(self.lowres_side[0], self.lowres_side[1] + 1, (1,), generator=g))
                small = F.interpolate(x[sel], size=(side, side), mode="area")
                x = x.clone()
                x[sel] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        if self.blur > 0:
            sel = pick(self.blur)
            if sel.any():
                lo, hi = self.blur_sigma
                sigma = lo + (hi - lo) * float(torch.rand(1, generator=g))
                k = torch.arange(-3, 4, dtype=x.dtype)
                k = torch.exp(-(k ** 2) / (2 * sigma ** 2))
                k = k / k.sum()
                xs = x[sel]
                xs = F.conv2d(F.pad(xs, (3, 3, 0, 0), mode="replicate"), k.view(1, 1, 1, 7).repeat(c, 1, 1, 1), groups=c)
                xs = F.conv2d(F.pad(xs, (0, 0, 3, 3), mode="replicate"), k.view(1, 1, 7, 1).repeat(c, 1, 1, 1), groups=c)
                x = x.clone()
                x[sel] = xs
        if self.gamma > 0:
            sel = pick(self.gamma).view(n, 1, 1, 1)
            lo, hi = np.log(self.gamma_range[0]), np.log(self.gamma_range[1])
            gam = torch.exp(lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=g))
            con = 1 + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * self.contrast
            bri = (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * self.brightness
            unit = ((x + 1) / 2).clamp(0, 1) ** gam
            y = (unit * 2 - 1) * con + bri
            x = torch.where(sel, y, x)
        if self.noise > 0:
            sel = pick(self.noise).view(n, 1, 1, 1)
            std = torch.rand(n, 1, 1, 1, generator=g) * self.noise_std
            x = torch.where(sel, x + torch.randn(x.shape, generator=g) * std, x)
        return x.clamp(-1.5, 1.5)
