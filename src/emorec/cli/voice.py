"""``emorec voice ...``: predict (inference); train, evaluate, export, features (the ``train`` extra).

``emorec voice predict PATH...`` output, one record per input, in input order:

* ``--format text`` (default): ``clip.wav: happy 71% (next: neutral 12%, sad 8%), 1 segment``;
  problems go to stderr as ``error: <file>: <what is wrong>``.
* ``--format json``: exactly one JSON object per line per input::

    {"path": "talk.wav", "label": "happy", "score": 0.71, "scores": {"neutral": 0.05, ...},
     "segments": [{"start": 0.42, "end": 3.1, "label": "happy", "score": 0.8, "scores": {...}}],
     "error": null}

  ``label``/``score`` are null and ``error`` says why when nothing could be classified.
* ``--csv FILE``: the timeline, one row per segment (path, start, end, label, score,
  one column per emotion, note); inputs without a segment get one row with the note.
* ``--plot FILE``: PNG of the emotion probabilities over time (one file per input
  when there are several: FILE_<input>.png).

Existing --csv/--plot files are only replaced with ``--overwrite``. A bad file
is reported and the batch goes on; the exit code is 1 only when no input could
be processed.
"""
from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from emorec.cli.extras import require_extra
from emorec.errors import EmorecError, InputError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Voice emotion: predict, train, evaluate, export, features.")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


def expand_audio_inputs(paths: list[Path], recursive: bool = True) -> list[tuple[Path, str | None]]:
    """Files to process (folders walked, sorted), each with an error message or None.

    Entries of a folder that cannot be used (symlink loops, broken links, unreadable files)
    are listed with their reason, not dropped.
    """
    from emorec.inputs import find_files, path_problem

    try:
        from emorec.voice.audio import MEDIA_EXTENSIONS as extensions
    except ImportError:  # older voice.audio: audio files only
        from emorec.datasets.audio_corpus import AUDIO_EXTENSIONS as extensions

    items: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            search = find_files(path, extensions, recursive)
            found: list[tuple[Path, str | None]] = [(p, None) for p in search.files]
            found += [(p, why) for p, why in search.problems]
            found.sort(key=lambda item: item[0].relative_to(path).parts)
            if not found:
                items.append((path, f"{path}: no audio files in this folder (looked for {', '.join(extensions)})"))
            items.extend(found)
        else:
            items.append((path, path_problem(path, what="audio file")))
    return items


def _text_line(result) -> str:
    if result.label is None:
        return f"{result.path}: no result: {result.error}"
    ranked = sorted(result.scores.items(), key=lambda kv: -kv[1])
    nxt = ", ".join(f"{k} {100 * v:.0f}%" for k, v in ranked[1:3])
    n = len(result.segments)
    return f"{result.path}: {result.label} {100 * result.score:.0f}% (next: {nxt}), {n} segment{'s' if n != 1 else ''}"


def plot_timeline(result, labels: list[str], path: Path) -> Path:
    """PNG of per-segment emotion probabilities over time (matplotlib, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=110)
    cmap = plt.get_cmap("tab10")
    for j, name in enumerate(labels):
        xs, ys = [], []
        for s in result.segments:
            xs += [s.start, s.end, float("nan")]
            ys += [s.scores.get(name, 0.0)] * 2 + [float("nan")]
        ax.plot(xs, ys, lw=2, color=cmap(j % 10), label=name)
    for s in result.segments:
        ax.axvspan(s.start, s.end, color="0.92", zorder=0)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(result.duration or 0, max((s.end for s in result.segments), default=1)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title(f"{Path(result.path).name}: {result.label or result.error}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@app.command("predict")
def predict(
    paths: list[Path] = typer.Argument(..., help="Audio files (wav, flac, ogg, mp3) and/or folders."),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX model with its .json card (default: packaged)."),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text or json (one object per line)."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the timeline table (one row per segment)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG of emotion probabilities over time."),
    vad: str = typer.Option("auto", "--vad", help="auto | silero | energy (segmentation of long recordings)."),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive", help="Walk sub-folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing --csv/--plot files."),
    providers: Optional[str] = typer.Option(None, "--providers",
                                            help="ONNX Runtime providers: cpu (default, or $EMOREC_PROVIDERS), auto, cuda."),
    labels: Optional[str] = typer.Option(None, "--labels",
                                         help="Only these of the model's labels, comma-separated (e.g. "
                                              "neutral,happy,sad,angry): each segment's probabilities over them."),
) -> None:
    """Emotions in speech recordings, per file and over time.

    Example: emorec voice predict talk.wav examples/ --format json --csv timeline.csv --plot timeline.png
    """
    import csv

    from emorec.voice.recognizer import VoiceEmotionRecognizer, VoiceResult

    from emorec.inputs import escape_name
    from emorec.outputs import PLOT_SUFFIXES, InputSet, atomic_open, atomic_path, check_output_file

    if plot is not None:
        require_extra("report", "emorec voice predict --plot")
    items = expand_audio_inputs(paths, recursive)
    # Every output is checked against every input (named or found in a folder) before any work.
    inputs = InputSet([p for p, err in items if err is None], [p for p in paths if p.is_dir()])
    if csv_path is not None:
        check_output_file(csv_path, option="--csv", inputs=inputs, overwrite=overwrite)
    if plot is not None:
        check_output_file(plot if plot.suffix else plot.with_suffix(".png"), option="--plot", inputs=inputs,
                          overwrite=True, suffixes=PLOT_SUFFIXES)
    plot_paths: list[Path] = []
    if plot is not None:
        n_inputs = sum(1 for _, err in items if err is None)
        if n_inputs <= 1:
            plot_paths = [plot]
        else:
            used: set[str] = set()
            for p, err in items:
                if err is None:
                    stem = f"{plot.stem}_{p.stem}"
                    while stem in used:
                        stem += "_"
                    used.add(stem)
                    plot_paths.append(plot.with_name(stem + (plot.suffix or ".png")))
        for p in plot_paths:
            check_output_file(p, option="--plot", inputs=inputs, overwrite=overwrite, suffixes=PLOT_SUFFIXES)
    rec = VoiceEmotionRecognizer(model, vad=vad, providers=providers, labels=labels)
    labels = rec.labels
    writer = fh = None
    n_ok = n_done = 0
    plots_written: list[Path] = []
    plot_iter = iter(plot_paths)
    interrupted = False
    # The table is written under a temporary name and renamed into place when complete (also after
    # Ctrl-C, with what was done); an error removes it and leaves any older file untouched.
    with contextlib.ExitStack() as outputs:
        if csv_path is not None:
            fh = outputs.enter_context(atomic_open(csv_path, "w", newline="", encoding="utf-8"))
            writer = csv.writer(fh)
            writer.writerow(["path", "start", "end", "label", "score", *labels, "note"])
        try:
            for path, error in items:
                if error is not None:
                    result = VoiceResult.failed(error, str(path))
                else:
                    try:
                        result = rec.predict(path)
                    except InputError as exc:
                        result = VoiceResult.failed(str(exc), str(path))
                    target = next(plot_iter, None)
                    if target is not None and result.segments:
                        with atomic_path(target) as tmp:
                            plot_timeline(result, labels, tmp)
                        plots_written.append(target)
                processed = result.label is not None or (result.error is not None and result.duration is not None)
                n_ok += processed
                n_done += 1
                if fmt == OutputFormat.json:
                    typer.echo(json.dumps(result.to_dict()))
                elif result.label is not None:
                    typer.echo(escape_name(_text_line(result)))
                elif processed:
                    typer.echo(escape_name(f"{result.path}: no result: {result.error}"))
                else:
                    typer.echo(escape_name(f"error: {result.error}"), err=True)
                if writer is not None:
                    if result.segments:
                        for s in result.segments:
                            writer.writerow([result.path, f"{s.start:.3f}", f"{s.end:.3f}", s.label, f"{s.score:.4f}",
                                             *[f"{s.scores.get(k, 0.0):.4f}" for k in labels], ""])
                    else:
                        writer.writerow([result.path, "", "", "", "", *[""] * len(labels), result.error or ""])
                sys.stdout.flush()
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C: keep what was done and say where it is (exit 130)
    if interrupted:
        where = [f"table in {csv_path}"] if csv_path is not None else []
        where += [f"{len(plots_written)} plots ({', '.join(map(str, plots_written[:3]))})"] if plots_written else []
        typer.echo(f"interrupted after {n_done} of {len(items)} inputs ({n_ok} processed)"
                   + (f"; {'; '.join(where)}" if where else ""), err=True)
        raise SystemExit(130)
    if n_ok == 0:
        # SystemExit, not typer.Exit: it survives the non-standalone app() call in emorec.cli.main.
        raise SystemExit(1)


# -- training-side commands (torch imported inside) -------------------------------------------

def _config(config: Optional[Path], overrides: dict):
    from emorec.training.config import load_config
    from emorec.training.voice.config import VoiceTrainConfig

    overrides = {k: v for k, v in overrides.items() if v is not None and v != []}
    if config is not None:
        return load_config(VoiceTrainConfig, config, overrides)
    return VoiceTrainConfig(**overrides)


def _feature_overrides(cfg, kind: Optional[str], n_mels: Optional[int], deltas: Optional[int]):
    from emorec.voice.features import FeatureConfig

    changes = {k: v for k, v in (("kind", kind), ("n_mels", n_mels), ("deltas", deltas)) if v is not None}
    if changes:
        try:
            cfg.features = FeatureConfig.from_dict({**cfg.features, **changes}).to_dict()
        except ValueError as exc:
            raise EmorecError(str(exc)) from None
    return cfg


def _json_option(text: Optional[str], name: str):
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmorecError(f"{name} must be JSON, e.g. '{{\"hidden\": 192}}' ({exc.msg})") from None
    if not isinstance(value, dict):
        raise EmorecError(f"{name} must be a JSON object")
    return value


def _json_list(text: Optional[str], name: str):
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmorecError(f"{name} must be a JSON list of objects ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise EmorecError(f"{name} must be a JSON list of objects")
    return value


CORPUS_HELP = "ravdess | cremad | savee | manifest, optionally NAME=PATH; repeat to combine corpora."


@app.command("train")
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML run config (e.g. a previous run's config.yaml)."),
    corpus: Optional[list[str]] = typer.Option(None, "--corpus", help=CORPUS_HELP),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the corpus folder."),
    meta: Optional[str] = typer.Option(None, "--meta", help="CREMA-D metadata folder."),
    cremad_labels: Optional[str] = typer.Option(None, help="CREMA-D labels: intended | voice | face | multimodal."),
    label_map: Optional[str] = typer.Option(None, help="Merge/drop classes, e.g. 'calm=neutral,surprise=drop'."),
    shared_labels: Optional[bool] = typer.Option(None, "--shared-labels/--all-labels", help="Keep only classes every corpus has."),
    protocol: Optional[str] = typer.Option(None, help="speaker-kfold | loso | random-augmented (leaky, notebook) | all (final model)."),
    folds: Optional[int] = typer.Option(None, help="k for speaker-kfold / random-augmented."),
    only_fold: Optional[list[int]] = typer.Option(None, "--only-fold", help="Run only these folds (1-based, repeatable)."),
    val_speakers: Optional[int] = typer.Option(None, help="Validation speakers per training fold (-1: 15%)."),
    model: Optional[str] = typer.Option(None, help="gru_attn (default) | lstm_attn | crnn | cnn1d_summary | lstm_summary."),
    model_kwargs: Optional[str] = typer.Option(None, help='Model options as JSON, e.g. \'{"hidden": 192}\'.'),
    mixup: Optional[float] = typer.Option(None, help="Probability per batch of mixup (0 = off)."),
    ensemble: Optional[int] = typer.Option(None, help="Models per fold (different seeds), probabilities averaged."),
    ensemble_kwargs: Optional[str] = typer.Option(None, help='Per-member model options cycled over members, JSON list, '
                                                  'e.g. \'[{"frame_norm": "utterance"}, {"frame_norm": "none"}]\'.'),
    workers: Optional[int] = typer.Option(None, help="Data-loader worker processes (-1 = auto: 0 on CPU, up to 8 on CUDA)."),
    feature_kind: Optional[str] = typer.Option(None, "--features", help="logmel | mfcc | summary162 | egemaps."),
    n_mels: Optional[int] = typer.Option(None, help="Mel bands."),
    deltas: Optional[int] = typer.Option(None, help="0, 1 or 2 (delta + delta-delta)."),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="On-the-fly training augmentation."),
    wave_copies: Optional[int] = typer.Option(None, help="Waveform-augmented copies per training clip (cached)."),
    epochs: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None),
    lr: Optional[float] = typer.Option(None),
    patience: Optional[int] = typer.Option(None),
    class_balanced: Optional[bool] = typer.Option(None, "--class-balanced/--no-class-balanced",
                                                  help="Inverse-frequency class weights in the loss (default off)."),
    seed: Optional[int] = typer.Option(None),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda"),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (0 = default)."),
    cache: Optional[str] = typer.Option(None, "--cache", help="Feature cache folder (training can run from it alone)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    limit_speakers: Optional[int] = typer.Option(None, help="Use only the first N speakers (quick runs)."),
    out: Optional[str] = typer.Option(None, "--out", help="Run directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run (finished folds are kept)."),
    quiet: bool = typer.Option(False, "--quiet", help="Less output."),
) -> None:
    """Train a voice model and write a run directory (config.yaml, history.jsonl, metrics.json, fold_XX/).

    Example: emorec voice train --corpus ravdess --protocol speaker-kfold --folds 5 --out runs/voice-ravdess
    """
    require_extra("train", "emorec voice train")
    from emorec.training.rundir import summary
    from emorec.training.voice.train import run_training

    previous = Path(out or "runs/voice") / "config.yaml"
    if resume and config is None and previous.is_file():
        config = previous  # --resume continues the run as it was configured (options given here still win)
    cfg = _config(config, dict(corpus=corpus or None, data=data, meta=meta, cremad_labels=cremad_labels,
                               label_map=label_map, shared_labels=shared_labels, protocol=protocol, folds=folds,
                               model_kwargs=_json_option(model_kwargs, "--model-kwargs"), mixup=mixup,
                               ensemble=ensemble, num_workers=workers,
                               ensemble_kwargs=_json_list(ensemble_kwargs, "--ensemble-kwargs"),
                               only_folds=only_fold or None, val_speakers=val_speakers, model=model,
                               feature_augment=augment, wave_copies=wave_copies, epochs=epochs, batch_size=batch_size,
                               lr=lr, patience=patience, class_balanced=class_balanced, seed=seed, device=device, threads=threads, cache=cache,
                               limit_speakers=limit_speakers, out=out))
    cfg = _feature_overrides(cfg, feature_kind, n_mels, deltas)
    if resume and not only_fold:
        cfg.only_folds = []  # a resumed run finishes every fold unless --only-fold says otherwise
    if model in ("cnn1d_summary", "lstm_summary") and feature_kind is None and cfg.feature_config().is_sequence:
        cfg = _feature_overrides(cfg, "summary162", None, None)
    if no_cache:
        cfg.cache = None
    if Path(cfg.out).joinpath("metrics.json").exists() and not resume:
        raise EmorecError(f"{cfg.out} already holds a finished run: choose another --out or pass --resume")
    metrics = run_training(cfg, resume=resume, progress=not quiet)
    typer.echo(summary(metrics))
    typer.echo(f"\nrun directory: {cfg.out}")


@app.command("features")
def features(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML run config whose feature options to use."),
    corpus: Optional[list[str]] = typer.Option(None, "--corpus", help=CORPUS_HELP),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the corpus folder."),
    meta: Optional[str] = typer.Option(None, "--meta", help="CREMA-D metadata folder."),
    cache: str = typer.Option(..., "--cache", help="Feature cache folder to fill."),
    feature_kind: Optional[str] = typer.Option(None, "--features", help="logmel | mfcc | summary162 | egemaps."),
    n_mels: Optional[int] = typer.Option(None, help="Mel bands."),
    wave_copies: Optional[int] = typer.Option(None, help="Also store N waveform-augmented copies per clip."),
    notebook_copies: bool = typer.Option(False, "--notebook-copies", help="Also store the notebook's 2 copies (random-augmented protocol)."),
) -> None:
    """Precompute features (and training copies) into a cache that `voice train --cache` can use without audio.

    Example: emorec voice features --corpus ravdess --data ../shared/data --cache cache/voice
    """
    require_extra("train", "emorec voice features")
    from emorec.training.voice.features import precompute

    cfg = _config(config, dict(corpus=corpus or None, data=data, meta=meta, cache=cache, wave_copies=wave_copies))
    cfg = _feature_overrides(cfg, feature_kind, n_mels, None)
    result = precompute(cfg, notebook=notebook_copies)
    typer.echo(f"cache {result['cache']} ({result['megabytes']} MB); records: {', '.join(result['records'].values())}")


@app.command("evaluate")
def evaluate(
    run_dir: Optional[Path] = typer.Argument(None, help="A run directory: print its metrics."),
    model: Optional[Path] = typer.Option(None, "--model", help="ONNX model to run over a corpus (default: packaged)."),
    corpus: Optional[list[str]] = typer.Option(None, "--corpus", help=CORPUS_HELP),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the corpus folder."),
    meta: Optional[str] = typer.Option(None, "--meta", help="CREMA-D metadata folder."),
    cremad_labels: Optional[str] = typer.Option(None, help="CREMA-D labels: intended | voice | face | multimodal."),
    label_map: Optional[str] = typer.Option(None, help="Map corpus labels onto the model's, e.g. 'calm=neutral'."),
    speaker: Optional[list[str]] = typer.Option(None, "--speaker", help="Only these speakers (repeatable)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON to this file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
    out: Optional[Path] = typer.Option(None, "--out", help="With --model: also write a run directory (metrics.json, predictions.npz)."),
    report: bool = typer.Option(False, "--report", help="Write report.html / report.md into --out."),
) -> None:
    """Accuracy, balanced accuracy (UAR), macro-F1, per-class scores and confusion matrix.

    Example: emorec voice evaluate runs/voice-ravdess --json ravdess.json
    Example: emorec voice evaluate --model voice.onnx --corpus cremad=data/CREMA-D --json cremad.json --out runs/eval-cremad
    """
    from emorec.evaluation.metrics import format_metrics

    if report:
        require_extra("report", "emorec voice evaluate --report")
        if out is None:
            raise EmorecError("--report needs --out DIR to write the report into")
    if out is not None and run_dir is not None:
        raise EmorecError("--out writes the run directory of a --model evaluation; RUN_DIR already is one")
    if out is not None and (out / "metrics.json").exists() and not overwrite:
        raise EmorecError(f"{out} already holds metrics.json: choose another --out or pass --overwrite")
    if json_out is not None:  # checked before the evaluation; never over the run's own metrics or the model
        from emorec.outputs import check_output_file

        own = [run_dir / "metrics.json" if run_dir.is_dir() else run_dir] if run_dir is not None else []
        check_output_file(json_out, option="--json", inputs=own + ([model] if model else []), overwrite=overwrite,
                          suffixes=(".json",))
    if run_dir is not None:
        path = run_dir / "metrics.json" if run_dir.is_dir() else run_dir
        if not path.is_file():
            raise EmorecError(f"{run_dir} has no metrics.json: is it a finished run directory?")
        metrics = json.loads(path.read_text(encoding="utf-8"))
        from emorec.training.rundir import summary

        typer.echo(summary(metrics))
    else:
        from emorec.training.voice.config import VoiceTrainConfig
        from emorec.training.voice.evaluate import evaluate_onnx

        cfg = VoiceTrainConfig(**{k: v for k, v in dict(corpus=corpus or None, data=data, meta=meta,
                                                          cremad_labels=cremad_labels, label_map=label_map).items()
                                  if v is not None})
        metrics = evaluate_onnx(model, cfg, speakers=speaker or None, out=out)
        typer.echo(format_metrics(metrics))
        if metrics.get("failed"):
            typer.echo(f"\n{metrics['failed']} clips could not be classified, e.g. {metrics['failed_examples'][0]}")
    if json_out is not None:
        from emorec.outputs import atomic_open

        with atomic_open(json_out, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics, indent=2) + "\n")
        typer.echo(f"metrics written to {json_out}")
    if out is not None:
        typer.echo(f"run directory: {out}")
    if report:
        from emorec.evaluation.report import write_report

        paths = write_report(out)
        typer.echo(f"report written: {paths}")


@app.command("export")
def export(
    run_dir: Path = typer.Argument(..., help="A run directory (or fold_XX folder) with best.safetensors."),
    out: Path = typer.Option(..., "--out", help="Output .onnx path; the card is written beside it as .json."),
    metrics_from: Optional[Path] = typer.Option(None, "--metrics-from", help="Run dir whose (k-fold) metrics go into the card."),
    name: Optional[str] = typer.Option(None, help="Model name for the card."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model file."),
    compact: bool = typer.Option(False, "--compact", help="int8/float16 weights: about 4x smaller (see benchmarks/voice_compact.py)."),
) -> None:
    """Export a trained voice model to ONNX plus its JSON model card (checked under onnxruntime).

    Example: emorec voice export runs/voice-final --metrics-from runs/voice-ravdess --out src/emorec/models/voice.onnx
    """
    require_extra("train", "emorec voice export")
    from emorec.training.voice.export import export_voice

    path = export_voice(run_dir, out, metrics_from=metrics_from, name=name, overwrite=overwrite, compact=compact)
    typer.echo(f"exported {path} and {path.with_suffix('.json')}")
