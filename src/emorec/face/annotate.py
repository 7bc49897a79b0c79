"""Draw face boxes with their emotion and score, and save them without overwriting anything.

Example:
    >>> img = load_image("examples/astronaut.jpg")
    >>> out = draw_predictions(img, rec.predict(img))
    >>> save_annotated(out, "annotated/", "astronaut.jpg")
    PosixPath('annotated/astronaut.jpg')
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emorec.errors import InputError

# BGR colours per emotion; anything else is drawn in white.
COLOURS: dict[str, tuple[int, int, int]] = {
    "neutral": (200, 200, 200),
    "calm": (200, 160, 120),
    "happy": (0, 210, 0),
    "sad": (220, 120, 0),
    "angry": (0, 0, 230),
    "fear": (200, 0, 200),
    "disgust": (0, 140, 140),
    "surprise": (0, 200, 255),
    "contempt": (120, 60, 160),
}


def draw_predictions(image: np.ndarray, faces: Sequence, note: str | None = None) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box and "label score" drawn on it.

    ``faces`` are FacePrediction objects (anything with ``box``, ``label``,
    ``score``). ``note`` (e.g. "no face found", "t=1.50s") is written in the
    top-left corner. The input array is never modified.
    """
    import cv2

    if image.ndim == 2:
        canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    else:
        canvas = image[:, :, :3].copy()
    height, width = canvas.shape[:2]
    base = max(height, width)
    thickness = max(1, round(base / 400))
    font_scale = max(0.4, base / 1000)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for face in faces:
        x, y, w, h = (int(v) for v in face.box)
        colour = COLOURS.get(face.label, (255, 255, 255))
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, thickness)
        text = f"{face.label} {face.score:.2f}"
        (tw, th), baseline = cv2.getTextSize(text, font, font_scale, thickness)
        # Label above the box, or inside its top edge when the box touches the image top.
        top = y - th - baseline - 2 * thickness
        if top < 0:
            top = y
        cv2.rectangle(canvas, (x, top), (x + tw + 2 * thickness, top + th + baseline + 2 * thickness), colour, -1)
        cv2.putText(canvas, text, (x + thickness, top + th + thickness), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    if note:
        (tw, th), baseline = cv2.getTextSize(note, font, font_scale, thickness)
        cv2.rectangle(canvas, (0, 0), (tw + 6, th + baseline + 6), (0, 0, 0), -1)
        cv2.putText(canvas, note, (3, th + 3), font, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas


def output_suffix(source_name: str) -> str:
    """JPEG stays JPEG (photos, video frames), PNG/BMP/WebP keep their format, others become PNG."""
    suffix = Path(source_name).suffix.lower()
    if suffix in (".jpg", ".jpeg", ".jpe"):
        return ".jpg"
    if suffix in (".png", ".bmp", ".webp"):
        return suffix
    return ".png"


def save_annotated(image: np.ndarray, out_dir: str | os.PathLike, stem: str, suffix: str = ".jpg") -> Path:
    """Encode ``image`` and write it as ``out_dir/stem+suffix``, never replacing a file.

    When the name is taken, ``-1``, ``-2``, ... is appended; the file is created
    with exclusive mode so even a concurrent writer cannot be overwritten.
    """
    import cv2

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the annotation folder {out_dir} ({exc.strerror or exc}): choose another --annotate DIR") from None
    if not suffix.startswith("."):
        suffix = "." + suffix
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise InputError(f"OpenCV cannot encode an annotated {suffix} image: use .jpg or .png")
    payload = encoded.tobytes()
    for n in range(100_000):
        path = out_dir / (f"{stem}{suffix}" if n == 0 else f"{stem}-{n}{suffix}")
        try:
            with open(path, "xb") as fh:
                fh.write(payload)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot write {path} ({exc.strerror or exc}): check the --annotate folder") from None
    raise InputError(f"too many files named {stem}* in {out_dir}: choose an empty --annotate folder")
