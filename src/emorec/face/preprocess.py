"""Face preprocessing shared by training and inference, driven by the model card.

Training images (FER2013, CK+48) are already 48x48 grayscale crops; inference
crops a detected face with a margin, converts to grayscale and resizes with
the same interpolation, then both normalise with the card's scale/mean/std.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_INPUT: dict[str, Any] = {
    "size": [48, 48],  # height, width
    "channels": 1,
    "layout": "NCHW",
    "scale": 1.0 / 255.0,
    "mean": 0.5,
    "std": 0.5,
    "margin": 0.15,  # box grows by this fraction per side before cropping
    "interpolation": "area",
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from gray, BGR, BGRA or 16-bit input (OpenCV channel order)."""
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and img.size and img.max() <= 1.0:
            img = img * 255.0
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"unsupported image shape {img.shape}")


def expand_box(
    box: Sequence[int], margin: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Grow (x, y, w, h) by ``margin`` per side and clip it to the image."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return x0, y0, x1 - x0, y1 - y0


def crop_face(gray: np.ndarray, box: Sequence[int], spec: Mapping[str, Any] = DEFAULT_INPUT) -> np.ndarray:
    """Crop ``box`` (with the card's margin) from a grayscale image and resize to the model size."""
    height, width = gray.shape[:2]
    x, y, w, h = expand_box(box, float(spec.get("margin", 0.0)), width, height)
    return resize_face(gray[y : y + h, x : x + w], spec)


def resize_face(gray: np.ndarray, spec: Mapping[str, Any] = DEFAULT_INPUT) -> np.ndarray:
    import cv2

    out_h, out_w = spec["size"]
    if gray.shape[:2] == (out_h, out_w):
        return gray
    interp = cv2.INTER_AREA if spec.get("interpolation", "area") == "area" else cv2.INTER_LINEAR
    # INTER_AREA is for shrinking; enlarging small crops uses bilinear.
    if gray.shape[0] < out_h or gray.shape[1] < out_w:
        interp = cv2.INTER_LINEAR
    return cv2.resize(gray, (out_w, out_h), interpolation=interp)


def normalise(crops: np.ndarray, spec: Mapping[str, Any] = DEFAULT_INPUT) -> np.ndarray:
    """uint8 crops (N, H, W) -> float32 model input (N, 1, H, W)."""
    x = np.asarray(crops, dtype=np.float32) * float(spec["scale"])
    x = (x - float(spec["mean"])) / float(spec["std"])
    return x[:, None, :, :]
