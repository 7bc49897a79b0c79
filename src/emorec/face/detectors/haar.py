"""OpenCV's Haar cascade, shipped in the package (``face/data/``): the classic, weakest backend.

The XML files are read from emorec's own folder, never from ``cv2.data``
(gone from OpenCV 5 wheels). Haar gives no confidence: every box scores 1
and there are no landmarks.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from emorec.errors import ModelError
from emorec.face.detectors.base import Detection, check_image, clip_box, resize_for_search, sort_detections, to_gray

CASCADE_DIR = Path(__file__).resolve().parent.parent / "data"
CASCADE_PATH = CASCADE_DIR / "haarcascade_frontalface_alt2.xml"
DEFAULT_CASCADE_PATH = CASCADE_DIR / "haarcascade_frontalface_default.xml"  # the cascade most tools use


class HaarDetector:
    """OpenCV Haar cascade on a downscaled copy of the image, boxes mapped back.

    The defaults (the ``alt2`` cascade, scaleFactor 1.2, minNeighbors 3,
    320 px search) were chosen with ``benchmarks/face_detector.py``. Faces
    smaller than ``min_size`` pixels *in the search copy* are not searched
    for (with the defaults, under 7.5% of the image's longest side). Raise
    ``max_side`` (or pass ``max_side=None``) for small faces in group photos.

    Example:
        >>> HaarDetector().detect(np.zeros((240, 320), np.uint8))
        []
    """

    name = "haar"
    wants_color = False  # the cascade works on gray: callers can decode straight to gray

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
        cascade: cv2.CascadeClassifier | None
        try:
            cascade = cv2.CascadeClassifier(str(self.cascade_path))
        except Exception:  # cv2.error (or SystemError wrapping it) for a malformed XML
            cascade = None
        if cascade is None or cascade.empty():
            raise ModelError(f"OpenCV could not load the Haar cascade {self.cascade_path}: reinstall emorec")
        self._cascade = cascade
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

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        gray = to_gray(check_image(image))
        height, width = gray.shape
        small, scale = resize_for_search(gray, self.max_side)
        if min(small.shape) < self.min_size:
            return []
        if self.equalize:
            small = cv2.equalizeHist(small)
        with self._lock:
            found = self._cascade.detectMultiScale(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size),
            )
        out = []
        for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4):
            box = clip_box(x / scale, y / scale, w / scale, h / scale, width, height)
            if box is not None:
                out.append(Detection(box, 1.0, None))
        return sort_detections(out)
