"""``emorec face train | evaluate | export`` (registered into ``emorec.face.cli``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from emorec.errors import EmorecError


def _train(
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
    from emorec.training.config import load_config
    from emorec.training.face_train import FaceTrainConfig, run_training, summary

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


def _evaluate(
    dataset: str = typer.Option("fer2013", help="fer2013 | ckplus48 | ckextended | folder | fer-csv"),
    data: Optional[str] = typer.Option(None, "--data", help="Data root (default $EMOREC_DATA) or the dataset path."),
    split: Optional[str] = typer.Option("PrivateTest", help="Official split to evaluate ('all' for every item)."),
    model: Optional[Path] = typer.Option(None, help="ONNX model (default: the packaged model)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON to this file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write a run directory (metrics.json, predictions.npz)."),
    report: bool = typer.Option(False, "--report", help="Write report.html / report.md into --out."),
) -> None:
    """Evaluate an ONNX model on pre-cropped face images (accuracy, UAR, macro-F1, confusion matrix).

    Example: emorec face evaluate --dataset fer2013 --split PrivateTest --json fer_private.json
    """
    from emorec.training.face_eval import evaluate_onnx
    from emorec.evaluation.metrics import format_metrics

    metrics = evaluate_onnx(dataset, data, split, model, out)
    typer.echo(format_metrics(metrics))
    if json_out is not None:
        json_out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"metrics written to {json_out}")
    if report:
        if out is None:
            raise EmorecError("--report needs --out DIR to write the report into")
        from emorec.evaluation.report import write_report

        paths = write_report(out)
        typer.echo(f"report written: {paths}")


def _export(
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
    from emorec.training.face_eval import export_face

    path = export_face(run_dir, out, quantize=quantize, tta_flip=tta_flip, name=name, data=data)
    typer.echo(f"exported {path} and {path.with_suffix('.json')}")


def register(app: typer.Typer) -> None:
    app.command("train")(_train)
    app.command("evaluate")(_evaluate)
    app.command("export")(_export)
