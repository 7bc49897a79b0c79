"""``emorec face predict``: emotions of the faces in images, folders and videos.

Output, one record per input (file, or video), in input order:

* ``--format text`` (default): one line per face on stdout,
  ``photo.jpg: face 1 at x=177 y=66 w=95 h=95: happy 87% (next: surprise 6%, neutral 4%)``;
  ``photo.jpg: no face found`` when there is none; errors go to stderr as
  ``error: <file>: <what is wrong and what to do>``.
* ``--format json``: exactly one JSON object per line per input::

    {"path": "photo.jpg", "kind": "image",
     "faces": [{"box": [x, y, w, h], "label": "happy", "score": 0.87,
                "scores": {"angry": 0.01, ...}}],
     "error": null, "reason": null}

  ``error`` is a message when the input could not be used (then ``faces`` is
  ``[]``). ``reason`` is ``"no face found"`` when the input was fine but held
  no face (``faces`` is ``[]``, ``error`` stays null), else null. Videos add
  ``"fps"``, ``"every"`` and ``"frames": [{"frame": i, "time": seconds,
  "faces": [...]}]`` for every sampled frame; their top-level ``faces`` lists
  all faces of all frames, each with its ``frame`` and ``time``.
* ``--csv FILE``: a table with one row per face (path, frame, time, face,
  x, y, w, h, label, score, one column per emotion, note); inputs without a
  face get one row whose ``note`` says why. An existing FILE is never
  replaced unless ``--overwrite`` is given.
* ``--annotate DIR``: a copy of each image / sampled frame with boxes and
  labels drawn; names are made unique, nothing is overwritten.

A bad input is reported and the run goes on. The exit code is 0 when at least
one input was processed (a photo without a face counts as processed), 1 when
none could be, 2 for a usage error (e.g. an existing --csv file).

Heavy modules (cv2, onnxruntime, numpy) are imported inside the command so
``emorec --help`` stays fast.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from emorec.errors import EmorecError, InputError


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


NO_FACE = "no face found"
FLUSH_SECONDS = 0.5  # longest wait before results of finished inputs are printed
MAX_HELD_IMAGES = 8  # images kept in memory for --annotate before a flush


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

    media = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    excluded = {p.resolve() for p in (exclude or []) if p.exists()}
    items: list[Item] = []
    skipped = 0
    for path in paths:
        if path.is_dir():
            found = []
            for sub in walk_files(path, recursive, excluded):
                if sub.suffix.lower() in media:
                    found.append(Item(sub, "video" if is_video_path(sub) else "image"))
                else:
                    skipped += 1
            if not found:
                exts = ", ".join(sorted(media))
                where = "folder or its sub-folders" if recursive else "folder"
                items.append(Item(path, "error", f"{path}: no image or video files in this {where} (looked for {exts})"))
            items.extend(found)
        elif path.exists():
            items.append(Item(path, "video" if is_video_path(path) else "image"))
        else:
            items.append(Item(path, "error", f"{path}: file not found: check the path"))
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


# -- records and the batching queue ----------------------------------------------------------------


@dataclass
class Part:
    """One image or one video frame: its face crops, and after classification its faces."""

    boxes: list
    crops: Any  # np.ndarray (N, H, W) uint8
    frame: int | None = None
    time: float | None = None
    canvas: Any = None  # image kept for --annotate until classified
    annotate_stem: str = ""
    annotate_suffix: str = ".jpg"
    faces: list | None = None


@dataclass
class Record:
    path: str
    kind: str
    error: str | None = None
    parts: list[Part] = field(default_factory=list)
    done: bool = False
    fps: float | None = None


class Runner:
    """Classifies face crops of consecutive inputs together, and prints records in input order."""

    def __init__(
        self,
        recognizer,
        fmt: OutputFormat,
        csv_writer=None,
        annotate_dir: Path | None = None,
        batch_size: int = 256,
        every: int = 1,
    ) -> None:
        self.rec = recognizer
        self.fmt = fmt
        self.csv_writer = csv_writer
        self.annotate_dir = annotate_dir
        self.batch_size = batch_size
        self.every = every
        self.queue: deque[Record] = deque()
        self.unclassified: list[Part] = []
        self.pending_crops = 0
        self.held_images = 0
        self.oldest = 0.0
        self.n_ok = 0
        self.n_failed = 0
        self.n_faces = 0
        self.n_no_face = 0
        self.annotated: list[Path] = []

    # queue management
    def start(self, record: Record) -> Record:
        self.queue.append(record)
        return record

    def add_part(self, record: Record, part: Part) -> None:
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

    def finish(self, record: Record, error: str | None = None) -> None:
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
            self.emit(self.queue.popleft())

    def close(self) -> None:
        if self.unclassified:
            self.flush()
        self.emit_ready()

    # output
    def emit(self, record: Record) -> None:
        all_faces = [(p, f) for p in record.parts for f in p.faces]
        reason = None
        if record.error is None:
            self.n_ok += 1
            self.n_faces += len(all_faces)
            if not all_faces:
                self.n_no_face += 1
                reason = NO_FACE
        else:
            self.n_failed += 1
        if self.fmt == OutputFormat.json:
            out(json.dumps(self.json_record(record, reason), ensure_ascii=False))
        else:
            self.text_record(record, all_faces, reason)
        if self.csv_writer is not None:
            self.csv_rows(record, all_faces, reason)

    def json_record(self, record: Record, reason: str | None) -> dict[str, Any]:
        obj: dict[str, Any] = {"path": record.path, "kind": record.kind}
        if record.kind == "video" and record.error is None:
            frames = []
            flat = []
            for part in record.parts:
                faces = [f.to_dict() for f in part.faces]
                frames.append({"frame": part.frame, "time": round(part.time, 4), "faces": faces})
                flat.extend({**f, "frame": part.frame, "time": round(part.time, 4)} for f in faces)
            obj["faces"] = flat
            obj["fps"] = record.fps
            obj["every"] = self.every
            obj["frames"] = frames
        else:
            obj["faces"] = [f.to_dict() for p in record.parts for f in p.faces]
        obj["error"] = record.error
        obj["reason"] = reason
        return obj

    def text_record(self, record: Record, all_faces, reason: str | None) -> None:
        if record.error is not None:
            err(f"error: {record.error}")
            return
        if reason:
            if record.kind == "video":
                out(f"{record.path}: {NO_FACE} in {len(record.parts)} sampled frames")
            else:
                out(f"{record.path}: {NO_FACE}")
            return
        counters: dict[int, int] = {}
        for part, face in all_faces:
            key = id(part)
            counters[key] = counters.get(key, 0) + 1
            where = record.path if part.time is None else f"{record.path} @ {part.time:.2f}s (frame {part.frame})"
            out(f"{where}: face {counters[key]} at {format_box(face.box)}: {format_scores(face)}")

    def csv_rows(self, record: Record, all_faces, reason: str | None) -> None:
        labels = self.rec.labels
        if record.error is not None or reason:
            note = record.error or (f"{NO_FACE} in {len(record.parts)} sampled frames" if record.kind == "video" else NO_FACE)
            self.csv_writer.writerow([record.path, "", "", "", "", "", "", "", "", "", *([""] * len(labels)), note])
            return
        counters: dict[int, int] = {}
        for part, face in all_faces:
            counters[id(part)] = counters.get(id(part), 0) + 1
            x, y, w, h = face.box
            self.csv_writer.writerow(
                [
                    record.path,
                    "" if part.frame is None else part.frame,
                    "" if part.time is None else f"{part.time:.4f}",
                    counters[id(part)],
                    x,
                    y,
                    w,
                    h,
                    face.label,
                    f"{face.score:.6f}",
                    *(f"{face.scores[label]:.6f}" for label in labels),
                    "",
                ]
            )


def csv_header(labels: list[str]) -> list[str]:
    return ["path", "frame", "time", "face", "x", "y", "w", "h", "label", "score", *labels, "note"]


def format_box(box) -> str:
    x, y, w, h = box
    return f"x={x} y={y} w={w} h={h}"


def format_scores(face, runners_up: int = 2) -> str:
    """``happy 87% (next: surprise 6%, neutral 4%)``."""
    others = sorted(((p, k) for k, p in face.scores.items() if k != face.label), reverse=True)[:runners_up]
    tail = ", ".join(f"{k} {p:.0%}" for p, k in others)
    return f"{face.label} {face.score:.0%}" + (f" (next: {tail})" if tail else "")


def out(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stdout)  # keeps a progress bar on a shared terminal intact


def err(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


# -- processing one input --------------------------------------------------------------------------


def process_image(runner: Runner, item: Item, *, cropped: bool, annotate: bool, max_pixels: int) -> None:
    from emorec.face.annotate import output_suffix
    from emorec.face.imageio import load_image

    record = runner.start(Record(str(item.path), "image"))
    image = None
    try:
        if annotate:  # the colour image is needed for drawing
            image = load_image(item.path, mode="bgr", name=str(item.path), max_pixels=max_pixels)
            found = runner.rec.find_faces(image, cropped, name=str(item.path))
        else:  # from the file: large JPEGs decode at reduced size
            found = runner.rec.find_faces(item.path, cropped, name=str(item.path))
    except InputError as exc:
        runner.finish(record, str(exc))
        return
    part = Part(found.boxes, found.crops)
    if annotate:
        part.canvas = image
        part.annotate_stem = item.path.stem
        part.annotate_suffix = output_suffix(item.path.name)
    runner.add_part(record, part)
    runner.finish(record)


def process_video(runner: Runner, item: Item, *, every: int, cropped: bool, annotate: bool, max_pixels: int, bar=None) -> None:
    from emorec.face.video import iter_frames, probe_video

    record = runner.start(Record(str(item.path), "video"))
    try:
        record.fps = round(probe_video(item.path, max_pixels=max_pixels).fps, 3)
        for frame in iter_frames(item.path, every=every, max_pixels=max_pixels):
            found = runner.rec.find_faces(frame.image, cropped, name=f"{item.path} frame {frame.index}")
            part = Part(found.boxes, found.crops, frame=frame.index, time=frame.time)
            if annotate:
                part.canvas = frame.image
                part.annotate_stem = f"{item.path.stem}_f{frame.index:06d}"
                part.annotate_suffix = ".jpg"
            runner.add_part(record, part)
            if bar is not None:
                bar.set_postfix_str(f"{item.path.name} frame {frame.index}", refresh=False)
    except InputError as exc:
        # A video that cannot be read reports only its error.
        dropped = {id(p) for p in record.parts}
        runner.unclassified = [p for p in runner.unclassified if id(p) not in dropped]
        record.parts.clear()
        runner.finish(record, str(exc))
        return
    runner.finish(record)


# -- the command -----------------------------------------------------------------------------------


def predict(
    paths: list[Path] = typer.Argument(
        ..., help="Image files, folders (searched recursively) or video files.", show_default=False
    ),
    format: OutputFormat = typer.Option(
        OutputFormat.text, "--format", "-f", case_sensitive=False, help="text: a line per face; json: one JSON object per input."
    ),
    csv: Optional[Path] = typer.Option(
        None, "--csv", dir_okay=False, help="Also write a CSV table (one row per face) to this new file."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Let --csv replace an existing file."),
    annotate: Optional[Path] = typer.Option(
        None, "--annotate", file_okay=False, help="Write copies of the images/frames with boxes and labels drawn into this folder."
    ),
    every: int = typer.Option(10, "--every", min=1, help="Videos: analyse every Nth frame."),
    model: Optional[Path] = typer.Option(
        None, "--model", dir_okay=False, help="An .onnx face model with its .json card (default: the packaged model)."
    ),
    cropped: bool = typer.Option(False, "--cropped", help="Inputs are already face crops: skip detection, classify the whole image."),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Search folders' sub-folders too."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Face crops per ONNX Runtime call."),
    max_megapixels: float = typer.Option(50.0, "--max-megapixels", min=0.001, help="Refuse images larger than this."),
    detector: str = typer.Option("haar", "--detector", help="Face detector by name."),
    detect_size: int = typer.Option(
        320, "--detect-size", min=0, help="Haar: detect on a copy whose longest side is this many pixels (0: full size; raise for small faces)."
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="ONNX Runtime threads (default: one per core)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."
    ),
) -> None:
    """Predict the emotion of every face in images, folders and videos.

    Examples:

      emorec face predict photo.jpg

      emorec face predict photos/ --format json --csv faces.csv --annotate annotated/

      emorec face predict clip.mp4 --every 5
    """
    try:
        code = _run(
            paths, format, csv, overwrite, annotate, every, model, cropped, recursive,
            batch_size, max_megapixels, detector, detect_size, threads, progress,
        )
    except EmorecError as exc:
        err(f"error: {exc}")
        raise SystemExit(2) from None
    except BrokenPipeError:  # e.g. `emorec face predict dir | head`
        _silence_stdout()
        raise SystemExit(1) from None
    if code:
        # SystemExit rather than typer.Exit: it survives the non-standalone app() call in emorec.cli.main.
        raise SystemExit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _run(
    paths: list[Path],
    fmt: OutputFormat,
    csv_path: Path | None,
    overwrite: bool,
    annotate: Path | None,
    every: int,
    model: Path | None,
    cropped: bool,
    recursive: bool,
    batch_size: int,
    max_megapixels: float,
    detector: str,
    detect_size: int,
    threads: int | None,
    progress: bool | None,
) -> int:
    import csv as csv_module

    from tqdm import tqdm

    from emorec.face.imageio import is_video_path
    from emorec.face.recognizer import FaceEmotionRecognizer

    fmt = OutputFormat(fmt)
    if 0 < detect_size < 48:
        raise InputError(f"--detect-size {detect_size} is too small: use 0 (full size) or at least 48 pixels")
    max_pixels = int(max_megapixels * 1e6)
    if csv_path is not None:
        if csv_path.exists() and not overwrite:
            raise InputError(f"{csv_path} already exists: pass --overwrite to replace it, or choose another --csv FILE")
        if any(p.exists() and p.resolve() == csv_path.resolve() for p in paths):
            raise InputError(f"--csv {csv_path} is one of the inputs: choose another file name")
        if csv_path.parent and not csv_path.parent.is_dir():
            raise InputError(f"folder {csv_path.parent} for --csv does not exist: create it first")
    if annotate is not None and annotate.exists() and not annotate.is_dir():
        raise InputError(f"--annotate {annotate} is a file, not a folder: choose a folder name")

    items, skipped = expand_inputs(paths, recursive=recursive, exclude=[annotate] if annotate else None)

    options = {"max_side": detect_size or None} if detector == "haar" else {}
    recognizer = FaceEmotionRecognizer(
        model=model, detector=detector, threads=threads, max_pixels=max_pixels,
        batch_size=batch_size, detector_options=options,
    )

    csv_file = None
    writer = None
    if csv_path is not None:
        try:
            csv_file = open(csv_path, "w" if overwrite else "x", newline="", encoding="utf-8")
        except FileExistsError:
            raise InputError(f"{csv_path} already exists: pass --overwrite to replace it, or choose another --csv FILE") from None
        except OSError as exc:
            raise InputError(f"cannot write {csv_path} ({exc.strerror or exc}): choose another --csv FILE") from None
        writer = csv_module.writer(csv_file)
        writer.writerow(csv_header(recognizer.labels))

    runner = Runner(recognizer, fmt, writer, annotate, batch_size=batch_size, every=every)
    show_bar = None if progress is None else progress  # None: tqdm decides (only on a terminal)
    bar = tqdm(items, unit="file", file=sys.stderr, disable=(not show_bar) if show_bar is not None else None, leave=False, dynamic_ncols=True)
    try:
        for item in bar:
            if item.kind == "error":
                kind = "folder" if item.path.is_dir() else ("video" if is_video_path(item.path) else "image")
                runner.finish(runner.start(Record(str(item.path), kind)), item.error)
            elif item.kind == "video":
                process_video(runner, item, every=every, cropped=cropped, annotate=annotate is not None, max_pixels=max_pixels, bar=bar)
            else:
                process_image(runner, item, cropped=cropped, annotate=annotate is not None, max_pixels=max_pixels)
        runner.close()
    finally:
        bar.close()
        if csv_file is not None:
            csv_file.close()
        sys.stdout.flush()

    summary = f"{runner.n_ok} of {runner.n_ok + runner.n_failed} inputs processed, {runner.n_faces} faces"
    if runner.n_no_face:
        summary += f", {runner.n_no_face} without a face"
    if runner.n_failed:
        summary += f", {runner.n_failed} failed"
    if skipped:
        summary += f"; {skipped} non-image files in folders skipped"
    if runner.annotated:
        summary += f"; {len(runner.annotated)} annotated images in {annotate}"
    if csv_path is not None:
        summary += f"; table in {csv_path}"
    err(summary)
    return 0 if runner.n_ok else 1
