"""The face pipeline behind ``emorec face predict`` and the server: inputs, batching, records.

- :func:`expand_inputs` turns files and folders into :class:`Item` s (images, videos, or
  paths already known to be bad).
- :class:`FacePipeline` finds faces input by input and classifies the crops of
  consecutive inputs (images and sampled video frames) together in one ONNX
  Runtime call; finished :class:`FileResult` s are handed to ``on_result`` in
  input order. Video frames are sampled every ``every`` frames.
- :meth:`FileResult.to_dict` builds the JSON record (the same for the CLI and the server);
  renderers (text, CSV) read the same :class:`FileResult`.

No torch; cv2/onnxruntime come in through the recogniser.
"""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorec.errors import InputError

NO_FACE = "no face found"
FLUSH_SECONDS = 0.5  # longest wait before results of finished inputs are handed on
MAX_HELD_IMAGES = 8  # images kept in memory for annotation before a flush


# -- inputs ----------------------------------------------------------------------------------------


@dataclass
class Item:
    """One thing to process: an image or video file, or a path already known to be bad."""

    path: Path
    kind: str  # "image", "video" or "error"
    error: str | None = None


def expand_inputs(paths: list[Path], recursive: bool = True, exclude: list[Path] | None = None) -> tuple[list[Item], int]:
    """Files to process, in order: explicit files as given, folders walked and sorted.

    Inside folders only image/video extensions are taken (hidden files and
    ``exclude`` folders are skipped); a file named explicitly is always tried.
    Returns the items and how many non-media files were skipped in folders.
    """
    from emorec.face.imageio import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_video_path

    from emorec.inputs import find_files, path_problem

    media = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    items: list[Item] = []
    skipped = 0
    for path in paths:
        if path.is_dir():
            # Entries that cannot be used (symlink loops, broken links, unreadable) are reported,
            # not dropped; emorec's own output folders (--annotate) are skipped.
            search = find_files(path, media, recursive, exclude or [])
            skipped += search.skipped
            found = [Item(sub, "video" if is_video_path(sub) else "image") for sub in search.files]
            found += [Item(sub, "error", why) for sub, why in search.problems]
            found.sort(key=lambda item: item.path.relative_to(path).parts)
            if not found:
                exts = ", ".join(sorted(media))
                where = "folder or its sub-folders" if recursive else "folder"
                items.append(Item(path, "error", f"{path}: no image or video files in this {where} (looked for {exts})"))
            items.extend(found)
        elif (problem := path_problem(path, what="image or video file")) is None:
            items.append(Item(path, "video" if is_video_path(path) else "image"))
        else:  # missing, a symlink loop, a FIFO or device, permission denied: said as such
            items.append(Item(path, "error", problem))
    return items, skipped


def walk_files(folder: Path, recursive: bool, excluded: set[Path]) -> list[Path]:
    """Files under ``folder``, sorted; hidden entries, excluded folders and symlinked folders are skipped."""
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):  # does not follow symlinked folders: no loops
        root_path = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and recursive and (root_path / d).resolve() not in excluded
        )
        files.extend(root_path / n for n in sorted(names) if not n.startswith(".") and (root_path / n).is_file())
    return sorted(files, key=lambda p: p.relative_to(folder).parts)


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Part:
    """One image or one video frame: its face crops, and after classification its faces."""

    boxes: list
    crops: Any  # np.ndarray (N, H, W) uint8
    frame: int | None = None
    time: float | None = None
    canvas: Any = None  # image kept for annotation until classified
    annotate_stem: str = ""
    annotate_suffix: str = ".jpg"
    faces: list | None = None


@dataclass
class FileResult:
    """Everything found in one input (an image, or a video's sampled frames)."""

    path: str
    kind: str
    error: str | None = None
    parts: list[Part] = field(default_factory=list)
    done: bool = False
    fps: float | None = None
    every: int | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. a truncated video: what was lost

    @property
    def faces(self) -> list[tuple[Part, Any]]:
        """(part, face) for every face of every part, in order."""
        return [(p, f) for p in self.parts for f in (p.faces or [])]

    @property
    def reason(self) -> str | None:
        """``"no face found"`` when the input was fine but held no face, else None."""
        return NO_FACE if self.error is None and not self.faces else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of ``emorec face predict --format json`` (and of ``POST /v1/face``)."""
        obj: dict[str, Any] = {"path": self.path, "kind": self.kind}
        if self.kind == "video" and self.error is None:
            frames = []
            flat = []
            for part in self.parts:
                faces = [f.to_dict() for f in part.faces]
                frames.append({"frame": part.frame, "time": round(part.time, 4), "faces": faces})
                flat.extend({**f, "frame": part.frame, "time": round(part.time, 4)} for f in faces)
            obj["faces"] = flat
            obj["fps"] = self.fps
            obj["every"] = self.every
            obj["frames"] = frames
        else:
            obj["faces"] = [f.to_dict() for _, f in self.faces]
        obj["error"] = self.error
        obj["reason"] = self.reason
        if self.warnings:  # only when something was lost: records of sound files are unchanged
            obj["warnings"] = list(self.warnings)
        return obj


def image_record(path: str, faces: list) -> dict[str, Any]:
    """The JSON record of one image whose faces are already classified."""
    return FileResult(path, "image", parts=[Part([], None, faces=list(faces))], done=True).to_dict()


# -- the batching pipeline -------------------------------------------------------------------------


class FacePipeline:
    """Classifies face crops of consecutive inputs together, and hands results on in input order."""

    def __init__(
        self,
        recognizer: Any,
        on_result: Callable[[FileResult], None],
        *,
        annotate_dir: Path | None = None,
        batch_size: int = 256,
        every: int = 1,
        cropped: bool = False,
        max_pixels: int | None = None,
    ) -> None:
        self.rec = recognizer
        self.on_result = on_result
        self.annotate_dir = annotate_dir
        self.batch_size = batch_size
        self.every = every
        self.cropped = cropped
        self.max_pixels = max_pixels
        self.queue: deque[FileResult] = deque()
        self.unclassified: list[Part] = []
        self.pending_crops = 0
        self.held_images = 0
        self.oldest = 0.0
        self.annotated: list[Path] = []

    # -- processing one input
    def run(self, item: Item, on_frame: Callable[[Item, int], None] | None = None) -> None:
        """Process one input (its result is handed on once its faces are classified)."""
        from emorec.face.imageio import is_video_path

        if item.kind == "error":
            kind = "folder" if item.path.is_dir() else ("video" if is_video_path(item.path) else "image")
            self.finish(self.start(FileResult(str(item.path), kind)), item.error)
        elif item.kind == "video":
            self.process_video(item, on_frame)
        else:
            self.process_image(item)

    def process_image(self, item: Item) -> None:
        from emorec.face.annotate import output_suffix
        from emorec.face.imageio import load_image

        annotate = self.annotate_dir is not None
        record = self.start(FileResult(str(item.path), "image"))
        image = None
        try:
            if annotate:  # the colour image is needed for drawing
                image = load_image(item.path, mode="bgr", name=str(item.path), max_pixels=self.max_pixels)
                found = self.rec.find_faces(image, self.cropped, name=str(item.path))
            else:  # from the file: large JPEGs decode at reduced size
                found = self.rec.find_faces(item.path, self.cropped, name=str(item.path))
        except InputError as exc:
            self.finish(record, str(exc))
            return
        part = Part(found.boxes, found.crops)
        if annotate:
            part.canvas = image
            part.annotate_stem = item.path.stem
            part.annotate_suffix = output_suffix(item.path.name)
        self.add_part(record, part)
        self.finish(record)

    def process_video(self, item: Item, on_frame: Callable[[Item, int], None] | None = None) -> None:
        from emorec.face.video import iter_frames, probe_video

        record = self.start(FileResult(str(item.path), "video", every=self.every))
        try:
            record.fps = round(probe_video(item.path, max_pixels=self.max_pixels).fps, 3)
            for frame in iter_frames(item.path, every=self.every, max_pixels=self.max_pixels,
                                     report=record.warnings):
                found = self.rec.find_faces(frame.image, self.cropped, name=f"{item.path} frame {frame.index}")
                part = Part(found.boxes, found.crops, frame=frame.index, time=frame.time)
                if self.annotate_dir is not None:
                    part.canvas = frame.image
                    part.annotate_stem = f"{item.path.stem}_f{frame.index:06d}"
                    part.annotate_suffix = ".jpg"
                self.add_part(record, part)
                if on_frame is not None:
                    on_frame(item, frame.index)
        except InputError as exc:
            # A video that cannot be read reports only its error.
            dropped = {id(p) for p in record.parts}
            self.unclassified = [p for p in self.unclassified if id(p) not in dropped]
            record.parts.clear()
            self.finish(record, str(exc))
            return
        self.finish(record)

    # -- queue management
    def start(self, record: FileResult) -> FileResult:
        self.queue.append(record)
        return record

    def add_part(self, record: FileResult, part: Part) -> None:
        if not self.unclassified:
            self.oldest = time.monotonic()
        record.parts.append(part)
        self.unclassified.append(part)
        self.pending_crops += len(part.boxes)
        self.held_images += part.canvas is not None
        if (
            self.pending_crops >= self.batch_size
            or self.held_images >= MAX_HELD_IMAGES
            or time.monotonic() - self.oldest > FLUSH_SECONDS
        ):
            self.flush()

    def finish(self, record: FileResult, error: str | None = None) -> None:
        if error is not None:
            record.error = error
        record.done = True
        if self.unclassified and time.monotonic() - self.oldest > FLUSH_SECONDS:
            self.flush()
        self.emit_ready()

    def flush(self) -> None:
        import numpy as np

        parts, self.unclassified = self.unclassified, []
        self.pending_crops = self.held_images = 0
        crops = [p.crops for p in parts if len(p.boxes)]
        if crops:
            probs = self.rec.classify_crops(np.concatenate(crops), batch_size=self.batch_size)
        offset = 0
        for part in parts:
            n = len(part.boxes)
            part.faces = self.rec.to_predictions(part.boxes, probs[offset : offset + n]) if n else []
            offset += n
            if part.canvas is not None:
                self.write_annotation(part)
        self.emit_ready()

    def write_annotation(self, part: Part) -> None:
        from emorec.face.annotate import draw_predictions, save_annotated

        if part.time is not None:
            note = f"t={part.time:.2f}s" + ("" if part.faces else f" {NO_FACE}")
        else:
            note = None if part.faces else NO_FACE
        image = draw_predictions(part.canvas, part.faces or [], note=note)
        part.canvas = None  # free the frame now
        self.annotated.append(save_annotated(image, self.annotate_dir, part.annotate_stem, part.annotate_suffix))

    def emit_ready(self) -> None:
        while self.queue and self.queue[0].done and all(p.faces is not None for p in self.queue[0].parts):
            self.on_result(self.queue.popleft())

    def close(self) -> None:
        if self.unclassified:
            self.flush()
        self.emit_ready()
