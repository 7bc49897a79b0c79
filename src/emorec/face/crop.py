"""The one face-crop definition, shared by training-data preparation and inference.

A model only sees faces framed the way its training faces were framed, so the
framing is data: a :class:`CropSpec` (margin around the detector box, square
or not, vertical offset, eye-line alignment, output size, gray or colour)
recorded in the model card (``input.crop``) and read back at load time.
:func:`make_crop` turns an image plus a detection into the model-sized crop;
``emorec.training`` data preparation and the recogniser both call it, so the
same box in the same image gives the same pixels in both places. No torch.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from emorec.errors import ModelError

Box = Sequence[float]  # (x, y, w, h) in pixels
Landmarks = Sequence[Sequence[float]]  # YuNet order: right eye, left eye, nose, mouth right, mouth left


@dataclass(frozen=True)
class CropSpec:
    """How a detector box becomes a model input crop.

    margin: the crop side grows by this fraction of the box side on each side.
    square: crop a square of the box's longer side (else keep the box's aspect).
    offset_y: move the crop centre down by this fraction of the box height
        (negative = up); detectors and datasets disagree on where a face's centre is.
    align: rotate about the box centre so the eye line is level, when landmarks exist.
    size: output (height, width); channels: 1 = gray, 3 = BGR.
    interpolation: "area" (shrinking averages source pixels) or "linear".
    border: "replicate" or "constant" (black) outside the image.
    """

    size: tuple[int, int] = (48, 48)
    channels: int = 1
    margin: float = 0.0
    square: bool = True
    offset_y: float = 0.0
    align: bool = True
    interpolation: str = "area"
    border: str = "replicate"

    def __post_init__(self) -> None:
        size = tuple(int(v) for v in self.size)
        if len(size) != 2 or min(size) < 8:
            raise ModelError(f"crop size must be [height, width] of at least 8 px, got {self.size!r}")
        object.__setattr__(self, "size", size)
        if self.channels not in (1, 3):
            raise ModelError(f"crop channels must be 1 (gray) or 3 (BGR), got {self.channels!r}")
        if not -0.45 < float(self.margin) <= 2.0:
            raise ModelError(f"crop margin must be in (-0.45, 2], got {self.margin!r}")
        if self.interpolation not in ("area", "linear"):
            raise ModelError(f"crop interpolation must be 'area' or 'linear', got {self.interpolation!r}")
        if self.border not in ("replicate", "constant"):
            raise ModelError(f"crop border must be 'replicate' or 'constant', got {self.border!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["size"] = list(self.size)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"unknown crop spec keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(data))

    @classmethod
    def from_card_input(cls, spec: Mapping[str, Any]) -> CropSpec:
        """The crop spec of a card's ``input`` section.

        Cards written before crop specs existed (``input.margin`` only) meant a
        margin crop of the box as given, clipped to the image, not squared, not aligned.
        """
        if "crop" in spec:
            crop = dict(spec["crop"])
            crop.setdefault("size", spec.get("size", (48, 48)))
            crop.setdefault("channels", spec.get("channels", 1))
            return cls.from_dict(crop)
        return cls(size=tuple(spec.get("size", (48, 48))), channels=int(spec.get("channels", 1)),
                   margin=float(spec.get("margin", 0.15)), square=False, align=False,
                   interpolation=str(spec.get("interpolation", "area")))


def crop_window(box: Box, spec: CropSpec) -> tuple[float, float, float, float]:
    """(centre x, centre y, width, height) of the crop in source pixels, before rotation."""
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have a positive size, got {tuple(box)}")
    # Pixel-centre coordinates: a box starting at x covering w pixels is centred at x + (w - 1) / 2.
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0 + spec.offset_y * h
    if spec.square:
        w = h = max(w, h)
    grow = 1.0 + 2.0 * spec.margin
    return cx, cy, w * grow, h * grow


def eye_angle(landmarks: Landmarks) -> float:
    """Degrees the eye line is tilted (image coordinates); rotating by it levels the eyes."""
    (rx, ry), (lx, ly) = landmarks[0][:2], landmarks[1][:2]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def make_crop(image: np.ndarray, box: Box, landmarks: Landmarks | None = None,
              spec: CropSpec = CropSpec()) -> np.ndarray:
    """The model-input crop of ``box`` in ``image`` (uint8 gray (H, W) or BGR (H, W, 3)).

    Returns uint8 (h, w) for 1 channel or (h, w, 3) BGR for 3. One affine warp
    (rotation about the crop centre when aligning) at source resolution, then a
    resize to the output size, so shrinking averages pixels as INTER_AREA does.
    """
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"make_crop wants a uint8 image, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    cx, cy, cw, ch = crop_window(box, spec)
    angle = eye_angle(landmarks) if (spec.align and landmarks is not None and len(landmarks) >= 2) else 0.0
    out_h, out_w = spec.size
    # Work at source resolution when shrinking (then area-resize), else warp straight to the output size.
    shrink = spec.interpolation == "area" and (cw > out_w or ch > out_h)
    mid_w, mid_h = (max(1, int(round(cw))), max(1, int(round(ch)))) if shrink else (out_w, out_h)
    sx, sy = mid_w / cw, mid_h / ch
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # dest = S @ R(-angle) @ (p - c) + dest_centre; R rotates the tilted eye line onto the horizontal.
    a = np.array([[cos, sin], [-sin, cos]], dtype=np.float64)
    m = np.diag([sx, sy]) @ a
    t = np.array([(mid_w - 1) / 2.0, (mid_h - 1) / 2.0]) - m @ np.array([cx, cy])
    matrix = np.hstack([m, t[:, None]])
    border = cv2.BORDER_REPLICATE if spec.border == "replicate" else cv2.BORDER_CONSTANT
    crop = cv2.warpAffine(img, matrix, (mid_w, mid_h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    if (mid_h, mid_w) != (out_h, out_w):
        crop = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    if spec.channels == 1 and crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    elif spec.channels == 3 and crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(crop)


def crop_detection(image: np.ndarray, detection: Any, spec: CropSpec = CropSpec()) -> np.ndarray:
    """:func:`make_crop` for an ``emorec.face.detect.Detection`` (or a bare (x, y, w, h) box)."""
    box = getattr(detection, "box", detection)
    landmarks = getattr(detection, "landmarks", None)
    return make_crop(image, box, landmarks, spec)
