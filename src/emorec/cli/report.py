"""``emorec report RUN_DIR`` (the ``report`` extra: matplotlib)."""
from __future__ import annotations

from pathlib import Path

import typer

from emorec.cli.extras import require_extra


def report(
    run_dir: Path = typer.Argument(..., help="Run directory written by `train` or `evaluate`."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for report.html/report.md (default: RUN_DIR)."),
    resamples: int = typer.Option(1000, "--resamples", min=0, help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (fixed so reports are reproducible)."),
    bins: int = typer.Option(15, "--bins", min=1, help="Confidence bins of the reliability diagram."),
) -> None:
    """Write report.html (self-contained) and report.md with figures for a run directory.

    Example: emorec report runs/face-ckplus-kfold --out reports/ckplus
    """
    require_extra("report", "emorec report")
    from emorec.evaluation.report import write_report

    paths = write_report(run_dir, out, n_resamples=resamples, seed=seed, n_bins=bins)
    typer.echo(f"wrote {paths.html}")
    typer.echo(f"wrote {paths.markdown} (+ {len(paths.figures)} figure(s))")
    for item in paths.missing:
        typer.echo(f"missing: {item}", err=True)
