"""Read every Nth frame of a video file with its timestamp (OpenCV VideoCapture).

Skipped frames are only grabbed, not decoded, so ``every=10`` costs little
more than decoding a tenth of the video.

Example:
    >>> for frame in iter_frames("examples/astronaut_pan.mp4", every=10):
    ...     print(frame.index, round(frame.time, 2), frame.image.shape)
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emorec.errors import InputError
from emorec.face.imageio import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float  # 0.0 when the container does not say
    frame_count: int  # as reported by the container; may be approximate or 0
    width: int
    height: int

    @property
    def duration(self) -> float | None:
        return self.frame_count / self.fps if self.fps > 0 and self.frame_count > 0 else None


@dataclass(frozen=True)
class Frame:
    index: int  # 0-based frame number in the video
    time: float  # seconds from the start
    image: np.ndarray  # (H, W, 3) uint8 BGR


def _open(path: str | os.PathLike, max_pixels: int) -> tuple[object, VideoInfo]:
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found: check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied: make the file readable (chmod +r)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes): re-export or re-download the video")
    # ffmpeg's own stderr chatter ("moov atom not found") would duplicate our one-line
    # errors; read when the backend loads, and a user's setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(
            f"{path}: cannot open as a video (corrupt, truncated, or a codec OpenCV lacks): re-encode it as H.264/MPEG-4 .mp4"
        )
    info = VideoInfo(
        path=path,
        fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
        frame_count=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
    )
    if max_pixels and info.width * info.height > max_pixels:
        cap.release()
        raise InputError(
            f"{path}: video frames are {info.width}x{info.height}, above the {max_pixels / 1e6:g} MP limit: "
            "downscale the video or raise the limit (--max-megapixels)"
        )
    return cap, info


def probe_video(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Frame rate, frame count and size, or InputError if OpenCV cannot open the file."""
    cap, info = _open(path, max_pixels)
    cap.release()
    return info


def iter_frames(
    path: str | os.PathLike,
    every: int = 1,
    *,
    max_frames: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    report: list[str] | None = None,
) -> Iterator[Frame]:
    """Yield frames 0, every, 2*every, ... with their time in seconds.

    Raises InputError when the file cannot be opened or not a single frame
    can be decoded. A video that breaks off part way ends the iteration there;
    then, and when sampled frames cannot be decoded, a one-line note saying what
    was lost is appended to ``report`` (when given).
    """
    import cv2

    if every < 1:
        raise ValueError("every must be at least 1")
    cap, info = _open(path, max_pixels)
    yielded = 0
    index = -1
    undecodable = 0
    try:
        while max_frames is None or yielded < max_frames:
            if not cap.grab():
                break
            index += 1
            if index % every:
                continue
            ok, image = cap.retrieve()
            if not ok or image is None or image.size == 0:
                undecodable += 1
                continue
            if info.fps > 0:
                time = index / info.fps
            else:  # no frame rate in the container: trust the decoder's clock
                time = float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            yield Frame(index=index, time=time, image=image)
            yielded += 1
    finally:
        cap.release()
    if yielded == 0 and (max_frames is None or max_frames > 0):
        raise InputError(f"{info.path}: no frame could be decoded (empty or corrupt video): re-encode it")
    if report is not None and (max_frames is None or yielded < max_frames):
        note = _lost_frames(info, every, index + 1, yielded, undecodable)
        if note:
            report.append(note)


def _lost_frames(info: VideoInfo, every: int, seen: int, yielded: int, undecodable: int) -> str | None:
    """What a truncated or damaged video lost, or None (container frame counts are approximate)."""
    promised = info.frame_count
    short = promised > 0 and seen < promised - max(2, int(0.02 * promised))
    if not short and not undecodable:
        return None
    expected = max(yielded + undecodable, -(-promised // every) if short else 0)
    missing = expected - yielded
    where = f" after {seen / info.fps:.2f} s" if info.fps > 0 else ""
    if short:
        return (f"{info.path}: the video breaks off{where} (frame {seen} of {promised}): "
                f"{missing} of {expected} sampled frames are missing; the file is truncated or damaged")
    return f"{info.path}: {undecodable} of {expected} sampled frames could not be decoded (damaged file)"
