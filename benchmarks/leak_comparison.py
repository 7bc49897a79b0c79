"""The original notebooks' leaky protocols beside the honest ones: same model, same code.

Faces (CK+48): a random 80/20 image split, where frames of the same subject and
even the same sequence land on both sides, versus subject-independent k-fold.
Voice (RAVDESS): augmentation before a random split (augmented copies of a
test clip are trained on) versus augmentation inside speaker-independent
training folds. Each pair uses one configuration that differs only in
``protocol``, and is trained through the documented CLI
(``emorec face train`` / ``emorec voice train``) into run directories that
``emorec report`` can render.

    python benchmarks/leak_comparison.py            # full: the default models and epochs (CPU: long)
    python benchmarks/leak_comparison.py --quick    # small model, few epochs: checks the pipeline only
    python benchmarks/leak_comparison.py --face-runs runs/ck_random runs/ck_kfold   # read existing runs

Writes benchmarks/results/leak_comparison.json. A side that cannot run (no
voice training CLI yet, no data) is recorded with its reason and the script
exits with code 3 so the suite summary shows it.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "leak_comparison"
BENCH_MARK_FILE = ".emorec-bench-run"  # marks run dirs this script may replace

# One configuration per side; only `protocol` differs between the two runs of a side.
FACE_FULL: dict[str, Any] = {
    "dataset": "ckplus48", "model": "emonet", "epochs": 30, "batch_size": 64, "lr": 0.001,
    "weight_decay": 0.0005, "warmup_epochs": 2, "patience": 10, "label_smoothing": 0.1,
    "class_balanced": True, "monitor": "balanced_accuracy", "val_fraction": 0.15, "test_fraction": 0.2,
    "folds": 10, "seed": 0,
}
# Quick mode only proves the pipeline runs end to end: a small model, 3 epochs, 300 training
# images and the first of 3 folds.
FACE_QUICK: dict[str, Any] = {**FACE_FULL, "model": "emonet-small", "epochs": 3, "warmup_epochs": 1,
                              "patience": 0, "lr": 0.003, "folds": 3, "only_folds": [1], "limit": 300}
FACE_PROTOCOLS = (
    ("random", "random 80/20 image split (original notebooks; subjects on both sides)", True),
    ("subject-kfold", "subject-independent k-fold", False),
)

# Both voice protocols are 5-fold (random folds of clips+copies vs speaker folds); the rest is the
# voice pipeline's default configuration.
VOICE_FULL: dict[str, Any] = {"corpus": ["ravdess"], "folds": 5, "seed": 0}
VOICE_QUICK: dict[str, Any] = {**VOICE_FULL, "epochs": 2, "min_epochs": 0, "warmup_epochs": 0, "folds": 3,
                               "only_folds": [1], "limit_speakers": 6, "threads": 1}
VOICE_PROTOCOLS = (
    ("random-augmented", "augmentation before a random split (original notebook)", True),
    ("speaker-kfold", "augmentation inside speaker-independent 5-fold training folds", False),
)


def _prepare_dir(path: Path) -> None:
    """Empty a run dir this script made before; refuse to touch anything else."""
    if path.exists():
        if not (path / BENCH_MARK_FILE).is_file():
            raise RuntimeError(f"{path} exists and was not made by this benchmark: pass another --work-dir")
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def train_run(task: str, config: dict[str, Any], protocol: str, out: Path, device: str, timeout: float
              ) -> dict[str, Any]:
    """`emorec <task> train --config cfg.yaml --out DIR` in a subprocess; returns timing and output tail."""
    import yaml

    _prepare_dir(out)
    cfg_path = out.parent / f"{out.name}.config.yaml"
    cfg = {**config, "protocol": protocol, "device": device}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "emorec.cli", task, "train", "--config", str(cfg_path), "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = common.run_measured(cmd, timeout=timeout, env=env, cwd=common.REPO_ROOT)
    if out.is_dir():
        (out / BENCH_MARK_FILE).write_text("made by benchmarks/leak_comparison.py\n")
    result["command"] = " ".join(["emorec", task, "train", "--config", str(cfg_path), "--out", str(out)])
    return result


def summarise_run(run_dir: Path) -> dict[str, Any]:
    """Headline metrics (pooled for k-fold) with bootstrap intervals from the run's predictions."""
    from emorec.evaluation.bootstrap import bootstrap_ci
    from emorec.evaluation.rundir import load_run

    run = load_run(run_dir)
    if run.metrics is None:
        raise RuntimeError(f"{run_dir} has no usable metrics.json ({'; '.join(run.missing) or 'unknown reason'})")
    m = run.metrics
    out: dict[str, Any] = {"run_dir": _rel(run_dir), "n": m.get("n"), "labels": m.get("labels"),
                           "command": run.meta("command"), "model": (run.config or {}).get("model")}
    ci = group_ci = None
    preds = run.predictions
    if preds is not None and preds.y_true.size and preds.probs.shape[1] == len(m["labels"]):
        ci = bootstrap_ci(preds.y_true, preds.y_pred, m["labels"], n_resamples=1000, seed=0)
        if preds.has_groups and len(set(preds.groups.tolist())) > 1:
            group_ci = bootstrap_ci(preds.y_true, preds.y_pred, m["labels"], groups=preds.groups,
                                    n_resamples=1000, seed=0)
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        c = (ci or {}).get(key) or {}
        out[key] = {"value": m.get(key), "low": c.get("low"), "high": c.get("high")}
        if group_ci:
            out[key]["group_low"] = group_ci[key]["low"]
            out[key]["group_high"] = group_ci[key]["high"]
    if run.across_folds:
        out["folds"] = len(run.folds)
        out["across_folds"] = run.across_folds
    seconds = common.history_epoch_seconds(run_dir)
    if seconds:
        out["training"] = seconds
    if preds is not None and preds.paths.size:
        out["test_paths_sample"] = [str(p) for p in preds.paths[:3]]
        out["_test_paths"] = [str(p) for p in preds.paths]
    return out


def ckplus_overlap(test_paths: list[str], data: str | None) -> dict[str, Any] | None:
    """How many test images share a subject / a sequence with the images outside the test set."""
    from emorec.paths import dataset_dir

    try:
        root = dataset_dir("ckplus48", data)
    except Exception:  # no data root: the figure is optional
        return None
    everything = {p.name for p in root.glob("*/*.png")}
    test = {Path(p).name for p in test_paths}
    rest = everything - test
    rest_subjects = {n.split("_")[0] for n in rest}
    rest_sequences = {"_".join(n.split("_")[:2]) for n in rest}
    same_subject = sum(1 for n in test if n.split("_")[0] in rest_subjects)
    same_sequence = sum(1 for n in test if "_".join(n.split("_")[:2]) in rest_sequences)
    return {
        "test_images": len(test),
        "with_subject_also_in_train_or_val": same_subject,
        "with_sequence_also_in_train_or_val": same_sequence,
    }


def _last_message(output: str) -> str:
    """The last line of a run's output that is not a progress bar."""
    lines = [ln.strip() for ln in output.replace("\r", "\n").splitlines() if ln.strip()]
    lines = [ln for ln in lines if "it/s" not in ln and "s/it" not in ln] or lines
    return lines[-1][:300] if lines else "no output"


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(common.REPO_ROOT))
    except ValueError:
        return str(path)


def compare_side(task: str, protocols: tuple, config: dict[str, Any], runs: list[str] | None, work: Path,
                 device: str, timeout: float, data: str | None) -> dict[str, Any]:
    """Train (or read) both protocols of one side and put them in one table."""
    side: dict[str, Any] = {"status": "ok", "config": config if not runs else None, "protocols": []}
    for i, (protocol, label, leaky) in enumerate(protocols):
        row: dict[str, Any] = {"protocol": protocol, "label": label, "leaky": leaky}
        if runs:
            run_dir = Path(runs[i])
        else:
            run_dir = work / f"{task}-{protocol}"
            trained = train_run(task, config, protocol, run_dir, device, timeout)
            row["train_wall_s"] = trained["seconds"]
            row["train_peak_rss_mb"] = trained["peak_rss_mb"]
            if trained["returncode"] != 0:
                side["status"] = "failed"
                if trained["timed_out"]:
                    side["reason"] = f"`{trained['command']}` timed out after {timeout:.0f} s (raise --timeout)"
                else:
                    side["reason"] = (f"`{trained['command']}` exited {trained['returncode']}: "
                                      + _last_message(trained["output_tail"]))
                side["protocols"].append(row)
                return side
        try:
            row.update(summarise_run(run_dir))
        except Exception as exc:  # a run dir without results: say so, keep the other side
            side["status"] = "failed"
            side["reason"] = f"{run_dir}: {exc}"
            side["protocols"].append(row)
            return side
        test_paths = row.pop("_test_paths", [])
        if task == "face" and leaky and test_paths:
            row["overlap"] = ckplus_overlap(test_paths, data)
        side["protocols"].append(row)
    if runs:
        side["config_differences"] = _config_differences([Path(r) for r in runs])
    leak = {}
    leaky_row, honest_row = side["protocols"][0], side["protocols"][1]
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        a, b = leaky_row.get(key, {}).get("value"), honest_row.get(key, {}).get("value")
        leak[key] = 100 * (a - b) if a is not None and b is not None else None
    side["leak_points"] = leak  # leaky minus honest, in percentage points
    return side


def _config_differences(run_dirs: list[Path]) -> dict[str, Any]:
    """Config keys that differ between two existing runs (besides protocol/out/command)."""
    import yaml

    cfgs = []
    for d in run_dirs:
        try:
            cfgs.append(yaml.safe_load((d / "config.yaml").read_text()) or {})
        except (OSError, yaml.YAMLError):
            cfgs.append({})
    ignore = {"protocol", "out", "command", "only_folds", "n_items"}
    keys = (set(cfgs[0]) | set(cfgs[1])) - ignore
    return {k: [cfgs[0].get(k), cfgs[1].get(k)] for k in sorted(keys) if cfgs[0].get(k) != cfgs[1].get(k)}


def voice_cli_available() -> str | None:
    """None when `emorec voice train` exists, else the reason it cannot run."""
    import importlib.util

    if importlib.util.find_spec("emorec.voice.cli") is None:
        return "the voice CLI (emorec.voice.cli) is not in this build yet"
    return None


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--face-runs", nargs=2, metavar=("RANDOM", "KFOLD"),
                   help="read these CK+48 run dirs (random, subject-kfold) instead of training")
    p.add_argument("--voice-runs", nargs=2, metavar=("RANDOM_AUGMENTED", "SPEAKER_KFOLD"),
                   help="read these RAVDESS run dirs instead of training")
    p.add_argument("--only", choices=["face", "voice"], default=None, help="run one side only")
    p.add_argument("--device", default="auto", help="training device: auto | cpu | cuda")
    p.add_argument("--work-dir", default=None, help="where run dirs go (default runs/leak_comparison/<mode>)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per training run")
    args = p.parse_args()
    if args.data:
        os.environ["EMOREC_DATA"] = args.data
    mode = "quick" if args.quick else "full"
    work = Path(args.work_dir) if args.work_dir else common.REPO_ROOT / "runs" / "leak_comparison" / mode
    timeout = args.timeout or (240.0 if args.quick else 3 * 3600.0)
    try:
        from emorec.paths import data_root

        data_root(args.data)
    except Exception as exc:
        if not (args.face_runs and args.voice_runs):
            raise common.MissingPrerequisite(str(exc)) from None

    figures: dict[str, Any] = {"mode_note": (
        "quick mode trains a small model for a few epochs to check the pipeline; its numbers are not the "
        "comparison -- run the full mode (or pass --face-runs/--voice-runs) for that") if args.quick else ""}
    if args.only in (None, "face"):
        figures["face"] = compare_side("face", FACE_PROTOCOLS, FACE_QUICK if args.quick else FACE_FULL,
                                       args.face_runs, work, args.device, timeout, args.data)
        figures["face"]["dataset"] = "CK+48"
    if args.only in (None, "voice"):
        reason = None if args.voice_runs else voice_cli_available()
        if reason:
            figures["voice"] = {"status": "missing", "reason": reason, "dataset": "RAVDESS"}
        else:
            figures["voice"] = compare_side("voice", VOICE_PROTOCOLS, VOICE_QUICK if args.quick else VOICE_FULL,
                                            args.voice_runs, work, args.device, timeout, args.data)
            figures["voice"]["dataset"] = "RAVDESS"
    notes = [f"{side}: {figures[side].get('reason')}" for side in ("face", "voice")
             if side in figures and figures[side]["status"] != "ok"]
    out = common.write_result(NAME, figures, quick=args.quick, notes=notes,
                              title="Leaky protocols of the original notebooks vs honest protocols",
                              status="ok" if not notes else "partial")
    for side in ("face", "voice"):
        if side not in figures:
            continue
        s = figures[side]
        if s["status"] != "ok":
            print(f"{side}: {s['status']}: {s.get('reason')}")
            continue
        for row in s["protocols"]:
            acc = row["accuracy"]["value"]
            print(f"{side} {row['protocol']:<16} accuracy {100 * acc:6.2f}%  (n = {row['n']})")
    print(f"-> {out}")
    statuses = {figures[s]["status"] for s in ("face", "voice") if s in figures}
    if statuses - {"ok"}:
        sys.exit(common.EXIT_MISSING if statuses <= {"ok", "missing"} else 1)


if __name__ == "__main__":
    common.run_main(main)
