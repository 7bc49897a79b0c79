"""YuNet through OpenCV's ``cv2.FaceDetectorYN`` from an ONNX file the user supplies: boxes, scores, 5 landmarks.

emorec does not ship the ONNX (get ``face_detection_yunet_2023mar.onnx``
from the OpenCV Zoo, Apache-2.0); give its path as ``model_path`` /
``--detector-model`` or in ``EMOREC_YUNET_MODEL``.

``FaceDetectorYN`` keeps state between calls: after a large input, smaller
inputs lose recall. So each input size gets its own detector object (a
small cache), created with that size.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from emorec.errors import ModelError, UsageError
from emorec.face.detectors.base import (
    Detection,
    check_image,
    clip_box,
    map_points,
    resize_for_search,
    sort_detections,
    to_bgr,
)

MODEL_ENV = "EMOREC_YUNET_MODEL"
DEFAULT_MAX_SIDE = 320
DEFAULT_SCORE_THRESHOLD = 0.6
HOW_TO_GIVE = (
    f"the yunet detector needs the YuNet ONNX file (face_detection_yunet_2023mar.onnx from the OpenCV Zoo): "
    f"pass --detector-model PATH (emorec serve: --face-detector-model; Python: detector_options={{'model_path': PATH}}) "
    f"or set {MODEL_ENV}=PATH"
)


class YuNetDetector:
    """YuNet via OpenCV; landmarks in :data:`~emorec.face.detectors.base.LANDMARK_NAMES` order.

    Example:
        >>> det = YuNetDetector("face_detection_yunet_2023mar.onnx")
        >>> [d.landmarks is not None for d in det.detect(image)]
    """

    name = "yunet"
    wants_color = True  # YuNet finds more faces in colour than in gray (ExpW photos: +2-5 points)

    def __init__(self, model_path: str | os.PathLike | None = None, *, max_side: int | None = DEFAULT_MAX_SIDE,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, nms_threshold: float = 0.3,
                 top_k: int = 5000, cache_sizes: int = 8) -> None:
        import cv2

        raw = model_path if model_path is not None else os.environ.get(MODEL_ENV)
        if not raw:
            raise UsageError(HOW_TO_GIVE)
        path = Path(raw).expanduser()
        if not path.is_file():
            raise UsageError(f"YuNet model {path} not found: {HOW_TO_GIVE}")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelError(f"this OpenCV ({cv2.__version__}) has no FaceDetectorYN: install opencv-python-headless>=4.8")
        if max_side is not None and max_side < 32:
            raise ValueError("max_side must be at least 32 pixels (or None for no downscaling)")
        self.model_path = path
        self.max_side = max_side
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self._cache_sizes = max(1, int(cache_sizes))
        self._by_size: OrderedDict[tuple[int, int], object] = OrderedDict()
        self._lock = threading.Lock()  # cv2.dnn nets are not thread-safe
        self._for_size((64, 64))  # fail now, not on the first photo, if the file is not a YuNet ONNX

    def __repr__(self) -> str:
        return f"YuNetDetector({str(self.model_path)!r}, max_side={self.max_side}, score_threshold={self.score_threshold})"

    def _for_size(self, size: tuple[int, int]):
        import cv2

        det = self._by_size.get(size)
        if det is not None:
            self._by_size.move_to_end(size)
            return det
        try:
            det = cv2.FaceDetectorYN.create(str(self.model_path), "", size, self.score_threshold,
                                            self.nms_threshold, self.top_k)
        except cv2.error as exc:
            raise ModelError(f"OpenCV could not load {self.model_path} as a YuNet model ({str(exc).strip()[:120]})") from None
        self._by_size[size] = det
        while len(self._by_size) > self._cache_sizes:
            self._by_size.popitem(last=False)
        return det

    def detect(self, image: np.ndarray) -> list[Detection]:
        image = check_image(image)
        height, width = image.shape[:2]
        small, scale = resize_for_search(to_bgr(image), self.max_side)
        size = (small.shape[1], small.shape[0])
        with self._lock:
            _, rows = self._for_size(size).detect(np.ascontiguousarray(small))
        out = []
        inv = 1.0 / scale
        for row in np.asarray(rows if rows is not None else [], dtype=np.float64).reshape(-1, 15):
            box = clip_box(row[0] * inv, row[1] * inv, row[2] * inv, row[3] * inv, width, height)
            if box is not None:
                out.append(Detection(box, float(min(1.0, row[14])), map_points(row[4:14], inv, inv)))
        return sort_detections(out)
