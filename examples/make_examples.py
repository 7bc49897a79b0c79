"""Regenerate the example media used by ``make demo`` and the face tests.

The photo comes from scikit-image's bundled sample data (no download): the
NASA portrait of astronaut Eileen Collins, public domain. The video is made
here from that photo (a slow pan and zoom), so it carries the same licence.

Usage (scikit-image is needed only to regenerate, not to run emorec)::

    pip install scikit-image
    python examples/make_examples.py            # writes examples/astronaut.jpg, astronaut_pan.mp4

The photo is stored as JPEG (quality 90) rather than the 790 KB PNG that
scikit-image ships, to keep the example folder well under 1 MB.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
VIDEO_SIZE = (320, 240)  # width, height
VIDEO_FPS = 10
VIDEO_SECONDS = 4


def astronaut_bgr() -> np.ndarray:
    try:
        from skimage import data
    except ImportError as exc:  # only needed to regenerate the examples
        raise SystemExit("scikit-image is needed to regenerate examples: pip install scikit-image") from exc
    rgb = data.astronaut()  # (512, 512, 3) uint8, bundled inside the wheel
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def write_photo(image: np.ndarray, path: Path) -> Path:
    ok = cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise SystemExit(f"could not write {path}")
    return path


def pan_frames(image: np.ndarray, n_frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Frames of a window that starts wide on the whole photo and closes in on the face.

    Every frame keeps the face fully inside the window, so a detector should
    find it in each of them (the face tests rely on that).
    """
    out_w, out_h = size
    height, width = image.shape[:2]
    aspect = out_w / out_h
    # Window centre and width at the start (whole width) and end (head and shoulders).
    start = np.array([width / 2, height * 3 / 8, width], dtype=np.float64)
    end = np.array([215.0, 130.0, 280.0])
    frames = []
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        t = 0.5 - 0.5 * np.cos(np.pi * t)  # ease in and out
        cx, cy, win_w = (1 - t) * start + t * end
        win_h = win_w / aspect
        x0 = int(round(np.clip(cx - win_w / 2, 0, width - win_w)))
        y0 = int(round(np.clip(cy - win_h / 2, 0, height - win_h)))
        crop = image[y0 : y0 + int(win_h), x0 : x0 + int(win_w)]
        frames.append(cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA))
    return frames


def write_video(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {path} (no mp4v encoder in this build)")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: examples/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    image = astronaut_bgr()
    photo = write_photo(image, args.out / "astronaut.jpg")
    frames = pan_frames(image, VIDEO_FPS * VIDEO_SECONDS, VIDEO_SIZE)
    video = write_video(frames, args.out / "astronaut_pan.mp4", VIDEO_FPS)
    for path in (photo, video):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
