"""Face detectors behind one small interface, found by name in a registry.

The default, ``"haar"``, is OpenCV's frontal-face Haar cascade
(``haarcascade_frontalface_alt2``; ``..._default`` ships too). The XML files
ship inside this package (``face/data/``) so detection works offline right
after install, whatever OpenCV build is present; they are never read from
``cv2.data``.

Add a stronger detector without touching callers::

    from emorec.face.detect import register_detector
    register_detector("mydet", lambda **kw: MyDetector(**kw))
    FaceEmotionRecognizer(detector="mydet")
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emorec.errors import InputError, ModelError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the input image

CASCADE_DIR = Path(__file__).resolve().parent / "data"
CASCADE_PATH = CASCADE_DIR / "haarcascade_frontalface_alt2.xml"
DEFAULT_CASCADE_PATH = CASCADE_DIR / "haarcascade_frontalface_default.xml"  # the cascade most tools use


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(gray) -> [(x, y, w, h), ...]`` can find faces for emorec.

    ``gray`` is a 2-D uint8 image. Boxes are in its pixel coordinates, inside
    the image, sorted left to right.
    """

    name: str

    def detect(self, gray: np.ndarray) -> list[Box]: ...


def sort_boxes(boxes: list[Box]) -> list[Box]:
    """Left to right, then top to bottom: face 1 is the leftmost, as a reader expects."""
    return sorted(boxes, key=lambda b: (b[0], b[1]))


def check_gray(gray: np.ndarray) -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", type(gray).__name__)
        raise InputError(
            f"face detection needs a 2-D uint8 grayscale image, got shape {shape} dtype {dtype}: "
            "convert with emorec.face.preprocess.to_gray"
        )
    return gray


class HaarDetector:
    """OpenCV Haar cascade on a downscaled copy of the image, boxes mapped back.

    Detecting on a copy whose longest side is at most ``max_side`` pixels
    costs a fraction of a full-size 640x480 search. The defaults (the
    ``alt2`` cascade, scaleFactor 1.2, minNeighbors 3) were chosen with
    ``benchmarks/face_detector.py`` (real FER2013 faces pasted into 640x480
    scenes): they find more faces than the ``default`` cascade at 1.15/4
    used before, for about 30% less time per photo; fer's full-size
    1.1/5/50 px search finds about 7 points more at four times the cost. See benchmarks/results/face_detector.json for every setting tried.
    Faces smaller than ``min_size`` pixels *in that copy* are not searched
    for: with the defaults, faces under 24/320 = 7.5% of the image's longest
    side (48 px in a 640x480 photo, the model's own input size). Raise
    ``max_side`` (or pass ``max_side=None``) for small faces in group photos.

    Example:
        >>> det = HaarDetector()
        >>> det.detect(np.zeros((240, 320), np.uint8))
        []
    """

    name = "haar"

    def __init__(
        self,
        cascade_path: str | Path = CASCADE_PATH,
        *,
        max_side: int | None = 320,
        scale_factor: float = 1.2,
        min_neighbors: int = 3,
        min_size: int = 24,
        equalize: bool = False,
    ) -> None:
        import cv2

        self.cascade_path = Path(cascade_path)
        if not self.cascade_path.is_file():
            raise ModelError(f"Haar cascade {self.cascade_path} is missing: reinstall emorec")
        try:
            self._cascade = cv2.CascadeClassifier(str(self.cascade_path))
        except Exception:  # cv2.error (or SystemError wrapping it) for a malformed XML
            self._cascade = None
        if self._cascade is None or self._cascade.empty():
            raise ModelError(f"OpenCV could not load the Haar cascade {self.cascade_path}: reinstall emorec")
        if max_side is not None and max_side < 48:
            raise ValueError("max_side must be at least 48 pixels (or None for no downscaling)")
        self.max_side = max_side
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        self.equalize = bool(equalize)
        # CascadeClassifier is not documented as thread-safe; a server shares one detector.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"HaarDetector(max_side={self.max_side}, scale_factor={self.scale_factor}, "
            f"min_neighbors={self.min_neighbors}, min_size={self.min_size})"
        )

    def detect(self, gray: np.ndarray) -> list[Box]:
        import cv2

        gray = check_gray(gray)
        height, width = gray.shape
        longest = max(height, width)
        scale = 1.0
        small = gray
        if self.max_side is not None and longest > self.max_side:
            scale = self.max_side / longest
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if min(small.shape) < self.min_size:
            return []
        if self.equalize:
            small = cv2.equalizeHist(small)
        with self._lock:
            found = self._cascade.detectMultiScale(
                small,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size),
            )
        boxes: list[Box] = []
        for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4):
            x0 = max(0, int(round(x / scale)))
            y0 = max(0, int(round(y / scale)))
            x1 = min(width, int(round((x + w) / scale)))
            y1 = min(height, int(round((y + h) / scale)))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        return sort_boxes(boxes)


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {"haar": HaarDetector}


def register_detector(name: str, factory: Callable[..., FaceDetector]) -> None:
    """Make ``factory(**options)`` available as ``get_detector(name)`` and ``--detector name``."""
    _REGISTRY[name] = factory


def available_detectors() -> list[str]:
    return sorted(_REGISTRY)


def get_detector(detector: str | FaceDetector = "haar", **options: Any) -> FaceDetector:
    """A detector by registry name, or ``detector`` itself if it already is one.

    Example:
        >>> get_detector("haar", max_side=320).name
        'haar'
    """
    if isinstance(detector, str):
        try:
            factory = _REGISTRY[detector]
        except KeyError:
            raise InputError(
                f"unknown face detector {detector!r}: choose one of {', '.join(available_detectors())}"
            ) from None
        return factory(**options)
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"{detector!r} has no detect(gray) method")
    return detector
