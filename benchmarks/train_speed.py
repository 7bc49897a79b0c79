"""Training time per epoch on this machine's CPU, for the default face and voice models.

Runs a short training through the documented CLI (``emorec face train`` on
8,000 images of FER2013's training split -- 600 CK+48 images in quick mode --
and ``emorec voice train`` on the first speaker fold of RAVDESS) and reads the seconds per epoch from the run's
``history.jsonl`` (training plus the validation pass). The first epoch is
reported apart because it includes warm-up costs; the figure is the median of
the remaining epochs. ``--run-dir`` reads an existing run instead.

    python benchmarks/train_speed.py --quick
    python benchmarks/train_speed.py --face-run runs/fer_student     # a run made on this machine
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "train_speed"
MARK = ".emorec-bench-run"

FACE = {"dataset": "fer2013", "protocol": "official", "model": "emonet", "batch_size": 128, "patience": 0,
        "warmup_epochs": 1, "seed": 0, "device": "cpu"}
VOICE = {"corpus": ["ravdess"], "protocol": "speaker-kfold", "folds": 5, "only_folds": [1], "patience": 0,
         "min_epochs": 0, "warmup_epochs": 0, "seed": 0, "device": "cpu"}


def epoch_stats(run_dir: Path) -> dict[str, Any] | None:
    """Seconds per epoch from history.jsonl (top level or the first fold folder)."""
    files = [run_dir / "history.jsonl", *sorted(run_dir.glob("fold_*/history.jsonl"))]
    for f in files:
        if not f.is_file():
            continue
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        seconds = [float(r["seconds"]) for r in rows if isinstance(r.get("seconds"), (int, float))]
        if not seconds:
            continue
        steady = seconds[1:] or seconds
        import numpy as np

        return {"history": str(f), "epochs": len(seconds), "first_epoch_s": seconds[0],
                "median_s_per_epoch": float(np.median(steady)), "all_epochs_s": seconds}
    return None


def train(task: str, cfg: dict[str, Any], out: Path, timeout: float) -> dict[str, Any]:
    import yaml

    if out.exists():
        if not (out / MARK).is_file():
            raise RuntimeError(f"{out} exists and was not made by this benchmark: pass another --work-dir")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg_path = out.parent / f"{out.name}.config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "emorec.cli", task, "train", "--config", str(cfg_path), "--out", str(out)]
    result = common.run_measured(cmd, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                 cwd=common.REPO_ROOT)
    if out.is_dir():
        (out / MARK).write_text("made by benchmarks/train_speed.py\n")
    return result


def measure(task: str, cfg: dict[str, Any], run: str | None, work: Path, timeout: float,
            items: int | None) -> dict[str, Any]:
    if run:
        run_dir = Path(run)
        wall = None
    else:
        run_dir = work / task
        outcome = train(task, cfg, run_dir, timeout)
        wall = outcome
        if outcome["returncode"] != 0:
            lines = [ln for ln in outcome["output_tail"].replace("\r", "\n").splitlines()
                     if ln.strip() and "it/s" not in ln and "s/it" not in ln]
            why = "timed out" if outcome["timed_out"] else (lines[-1] if lines else f"exit {outcome['returncode']}")
            return {"status": "failed", "reason": why[:300]}
    stats = epoch_stats(run_dir)
    if stats is None:
        return {"status": "failed", "reason": f"{run_dir} has no history.jsonl with epoch seconds"}
    out: dict[str, Any] = {"status": "ok", "run_dir": str(run_dir), "config": None if run else cfg, **stats}
    if items:
        out["training_items_per_epoch"] = items
        out["ms_per_training_item"] = 1000 * stats["median_s_per_epoch"] / items
    if wall is not None:
        out["run_wall_s"] = wall["seconds"]
        out["run_peak_rss_mb"] = wall["peak_rss_mb"]
    return out


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--face-run", default=None, help="read this face run dir instead of training")
    p.add_argument("--voice-run", default=None, help="read this voice run dir instead of training")
    p.add_argument("--work-dir", default=None, help="where run dirs go (default runs/train_speed/<mode>)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per training run")
    args = p.parse_args()
    if args.data:
        os.environ["EMOREC_DATA"] = args.data
    if not (args.face_run and args.voice_run):
        from emorec.paths import data_root

        try:
            data_root(args.data)
        except Exception as exc:
            raise common.MissingPrerequisite(str(exc)) from None
    mode = "quick" if args.quick else "full"
    work = Path(args.work_dir) if args.work_dir else common.REPO_ROOT / "runs" / "train_speed" / mode
    timeout = args.timeout or (150.0 if args.quick else 1800.0)
    # Quick: CK+48 loads in a second (FER2013's 35k JPEGs take longer than the epochs themselves).
    face_limit = 600 if args.quick else 8000
    face_cfg = {**FACE, "epochs": 3, "limit": face_limit,
                **({"dataset": "ckplus48", "protocol": "random"} if args.quick else {})}
    voice_cfg = {**VOICE, "epochs": 2 if args.quick else 3, **({"limit_speakers": 6, "folds": 3} if args.quick else {})}
    figures: dict[str, Any] = {"kind": "speed"}
    figures["face"] = measure("face", face_cfg, args.face_run, work, timeout, None if args.face_run else face_limit)
    figures["voice"] = measure("voice", voice_cfg, args.voice_run, work, timeout, None)
    rows = []
    for task in ("face", "voice"):
        f = figures[task]
        if f["status"] == "ok":
            cfg = f.get("config") or {}
            data = cfg.get("dataset") or "+".join(cfg.get("corpus") or []) or "given run"
            rows.append(common.headline(f"{task} ({data}): seconds per epoch (median after the first)",
                                        f["median_s_per_epoch"], "s"))
            if f.get("ms_per_training_item"):
                rows.append(common.headline(f"{task}: ms per training item", f["ms_per_training_item"], "ms"))
        else:
            rows.append(common.headline(f"{task}: not measured ({f['reason']})", None))
    figures["headline"] = rows
    notes = [f"{t}: {figures[t]['reason']}" for t in ("face", "voice") if figures[t]["status"] != "ok"]
    out = common.write_result(NAME, figures, quick=args.quick, notes=notes,
                              title="Training time per epoch on this CPU", status="ok" if not notes else "partial")
    for row in rows:
        print(f"{row['label']}: {row['value']}")
    print(f"-> {out}")
    if notes:
        sys.exit(1)


if __name__ == "__main__":
    common.run_main(main)
