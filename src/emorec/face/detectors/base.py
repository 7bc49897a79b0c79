"""What every face detector returns, and the helpers backends share.

A :class:`Detection` is a face box in the input image's pixels (clipped to
the image), a score in [0, 1] and, when the backend gives them, five
landmarks in YuNet's order (:data:`LANDMARK_NAMES`). "Right" and "left" are
the *subject's*: in an upright, unmirrored photo the subject's right eye is
the one on the image's left (smaller x).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emorec.errors import InputError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the input image
Point = tuple[float, float]

LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")


@dataclass(frozen=True)
class Detection:
    """One face found by a detector.

    Example:
        >>> d = Detection((10, 20, 30, 30), 0.9)
        >>> d.box, d.score, d.landmarks
        ((10, 20, 30, 30), 0.9, None)
    """

    box: Box
    score: float = 1.0
    landmarks: tuple[Point, ...] | None = None  # 5 (x, y) points in LANDMARK_NAMES order, or None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": [int(v) for v in self.box], "score": round(float(self.score), 4)}
        if self.landmarks is not None:
            out["landmarks"] = {n: [round(float(x), 1), round(float(y), 1)] for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks)}
        return out


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(image) -> [Detection, ...]`` can find faces for emorec.

    ``image`` is uint8, ``(H, W)`` grayscale or ``(H, W, 3)`` BGR (OpenCV
    order). Detections are inside the image, sorted left to right. A
    detector may also return bare ``(x, y, w, h)`` boxes; callers wrap the
    result with :func:`as_detections`. An optional class attribute
    ``wants_color = True`` asks callers for BGR (default: gray is enough).
    """

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


def sort_detections(found: Iterable[Detection]) -> list[Detection]:
    """Left to right, then top to bottom: face 1 is the leftmost, as a reader expects."""
    return sorted(found, key=lambda d: (d.box[0], d.box[1]))


def sort_boxes(boxes: list[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: (b[0], b[1]))


def as_detections(found: Iterable[Any]) -> list[Detection]:
    """A detector's result as Detections; bare ``(x, y, w, h)`` boxes (older plug-ins) get score 1."""
    out = []
    for item in found:
        if isinstance(item, Detection):
            out.append(item)
        else:
            x, y, w, h = (int(v) for v in item)
            out.append(Detection((x, y, w, h), 1.0, None))
    return out


def check_image(image: np.ndarray) -> np.ndarray:
    """The image if it is uint8 (H, W) or (H, W, 3); InputError otherwise."""
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    )
    if not ok:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InputError(
            f"face detection needs a uint8 (H, W) gray or (H, W, 3) BGR image, got shape {shape} dtype {dtype}: "
            "load it with emorec.face.imageio.load_image"
        )
    return image


def check_gray(gray: np.ndarray) -> np.ndarray:
    """Kept for callers of the old gray-only interface."""
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", type(gray).__name__)
        raise InputError(
            f"face detection needs a 2-D uint8 grayscale image, got shape {shape} dtype {dtype}: "
            "convert with emorec.face.preprocess.to_gray"
        )
    return gray


def search_scale(width: int, height: int, max_side: int | None) -> float:
    """Factor that brings the longest side down to ``max_side`` (never enlarges)."""
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return 1.0
    return max_side / longest


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box | None:
    """Round a float box to ints and clip it to the image; None when nothing is left inside
    (or when a backend gave non-finite numbers: OpenCV's YuNet can on images of a few pixels)."""
    if not all(np.isfinite(v) for v in (x, y, w, h)):
        return None
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1 - x0, y1 - y0


def to_bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def resize_for_search(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """(search image, scale): a copy whose longest side is ``max_side`` at most."""
    import cv2

    height, width = image.shape[:2]
    scale = search_scale(width, height, max_side)
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def map_points(points: Sequence[float] | np.ndarray, inv_sx: float, inv_sy: float) -> tuple[Point, ...]:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return tuple((float(px * inv_sx), float(py * inv_sy)) for px, py in pts)
