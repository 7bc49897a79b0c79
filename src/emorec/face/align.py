"""Eye-line alignment from detector landmarks: the rotation that levels the eyes.

Landmarks come in YuNet's order (``emorec.face.detectors.LANDMARK_NAMES``):
subject's right eye (image-left), left eye (image-right), nose tip, mouth
corners. Angles are in degrees in image coordinates (x right, y down), with
OpenCV's sign: ``cv2.getRotationMatrix2D(centre, angle, 1)`` with the angle
from :func:`eye_angle` turns the eye line horizontal. The crop made for the
model (margin, size, gray/colour) is :func:`emorec.face.crop.make_crop`,
which uses the same angle.

Example:
    >>> eyes = [(40.0, 50.0), (80.0, 60.0)]          # the image-right eye sits lower
    >>> round(eye_angle(eyes), 1)
    14.0
    >>> m = level_matrix(eyes)
    >>> [round(y, 6) for _, y in transform_points(eyes, m)]
    [55.0, 55.0]
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Point = Sequence[float]
Box = tuple[int, int, int, int]


def eye_angle(landmarks: Sequence[Point]) -> float:
    """Tilt of the line from the right eye (landmark 0) to the left eye (landmark 1), in degrees.

    Positive when the image-right eye is lower; rotating the image by this
    angle (OpenCV convention) levels the eyes.
    """
    if len(landmarks) < 2:
        raise ValueError("alignment needs at least the two eye landmarks")
    (rx, ry), (lx, ly) = (float(v) for v in landmarks[0][:2]), (float(v) for v in landmarks[1][:2])
    if rx == lx and ry == ly:
        return 0.0
    return math.degrees(math.atan2(ly - ry, lx - rx))


def eye_centre(landmarks: Sequence[Point]) -> tuple[float, float]:
    (rx, ry), (lx, ly) = landmarks[0][:2], landmarks[1][:2]
    return (float(rx) + float(lx)) / 2.0, (float(ry) + float(ly)) / 2.0


def rotation_matrix(centre: Point, angle: float) -> np.ndarray:
    """2x3 affine rotating by ``angle`` degrees about ``centre`` (``cv2.getRotationMatrix2D``, scale 1)."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = float(centre[0]), float(centre[1])
    return np.array([[cos, sin, (1 - cos) * cx - sin * cy], [-sin, cos, sin * cx + (1 - cos) * cy]], dtype=np.float64)


def level_matrix(landmarks: Sequence[Point], centre: Point | None = None) -> np.ndarray:
    """The 2x3 rotation that makes the eye line horizontal, about ``centre`` (default: between the eyes)."""
    return rotation_matrix(centre if centre is not None else eye_centre(landmarks), eye_angle(landmarks))


def transform_points(points: Sequence[Point], matrix: np.ndarray) -> list[tuple[float, float]]:
    """Apply a 2x3 affine to (x, y) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = pts @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix, dtype=np.float64)[:, 2]
    return [(float(x), float(y)) for x, y in out]


def rotate_box(box: Sequence[int], matrix: np.ndarray, width: int | None = None, height: int | None = None) -> Box:
    """The face box after the rotation: same size, centred on the moved centre; clipped if the image size is given.

    A face turned upright keeps its size; the box follows its centre.
    """
    x, y, w, h = (float(v) for v in box)
    (cx, cy), = transform_points([(x + w / 2.0, y + h / 2.0)], matrix)
    x0, y0 = int(round(cx - w / 2.0)), int(round(cy - h / 2.0))
    x1, y1 = x0 + int(round(w)), y0 + int(round(h))
    if width is not None and height is not None:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(int(width), x1), min(int(height), y1)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def level_eyes(image: np.ndarray, landmarks: Sequence[Point], centre: Point | None = None,
               border: str = "replicate") -> tuple[np.ndarray, np.ndarray]:
    """(rotated image, 2x3 matrix): the whole image rotated so the eye line is level, same size.

    Use the matrix with :func:`transform_points` / :func:`rotate_box` to move
    boxes and landmarks into the rotated image.
    """
    import cv2

    matrix = level_matrix(landmarks, centre)
    height, width = image.shape[:2]
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    rotated = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=mode)
    return rotated, matrix
