"""RAVDESS speech, 8 emotions, speaker-independent 5-fold cross-validation over actors 01-20.

Reads the k-fold run directory written by ``emorec voice train --config
configs/voice/ravdess_5fold.yaml`` (about 80 minutes on this 2-core CPU as two
processes of --threads 1) and reports pooled accuracy,
balanced accuracy (UAR) and macro-F1 with 95% bootstrap intervals resampled by
speaker, plus the per-fold spread.

    python benchmarks/accuracy_voice.py                              # reads benchmarks/runs/ravdess_5fold
    python benchmarks/accuracy_voice.py --run-dir runs/ravdess_5fold
    python benchmarks/accuracy_voice.py --train --run-dir runs/new   # retrain first (slow on CPU)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "accuracy_voice"
DEFAULT_RUN = common.REPO_ROOT / "benchmarks" / "runs" / "ravdess_5fold"
CONFIG = "configs/voice/ravdess_5fold.yaml"
TRAIN = ["voice", "train", "--config", CONFIG]


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--run-dir", default=str(DEFAULT_RUN), help="k-fold run directory to read")
    p.add_argument("--train", action="store_true", help="train the run first")
    args = p.parse_args()
    run_dir = Path(args.run_dir)
    if args.train:
        extra = ["--data", args.data] if args.data else []
        subprocess.run([sys.executable, "-m", "emorec.cli", *TRAIN, "--out", str(run_dir), *extra],
                       check=True, cwd=common.REPO_ROOT)
    figures = common.kfold_run_figures(
        run_dir, task="voice", dataset="RAVDESS speech (actors 01-20, 8 emotions)",
        protocol="speaker-independent 5-fold CV over actors",
        trained_by="emorec " + " ".join(TRAIN) + " --out runs/ravdess_5fold")
    out = common.write_result(NAME, figures, quick=args.quick, title="RAVDESS speaker-independent 5-fold CV")
    print(f"accuracy {figures['accuracy']['value']:.4f}  balanced {figures['balanced_accuracy']['value']:.4f}  "
          f"macro-F1 {figures['macro_f1']['value']:.4f}  (n = {figures['n']}) -> {out}")


if __name__ == "__main__":
    common.run_main(main)
