"""CK+48 subject-independent stratified 10-fold cross-validation (118 subjects, 981 images).

Reads the k-fold run directory written by the face training pipeline
(``configs/face/ck_kfold_realphoto.yaml``, fine-tuned from the shipped model's weights,
4 fixed epochs per fold: about 10 minutes on this CPU) and reports
pooled accuracy, balanced accuracy and macro-F1 with 95% bootstrap intervals
resampled by subject, plus the per-fold spread.

    python benchmarks/accuracy_ckplus.py                                  # reads benchmarks/runs/ck_kfold_realphoto
    python benchmarks/accuracy_ckplus.py --run-dir runs/ck_kfold          # a run you trained
    python benchmarks/accuracy_ckplus.py --train --run-dir runs/ck_new    # retrain first (slow on CPU)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


if __package__:  # `python -m benchmarks.NAME`, or imported as a module of the benchmarks package
    from benchmarks import common
else:  # `python benchmarks/NAME.py`: this folder is already sys.path[0]
    import common

NAME = "accuracy_ckplus"
DEFAULT_RUN = common.REPO_ROOT / "benchmarks" / "runs" / "ck_kfold_realphoto"
CONFIG = "configs/face/ck_kfold_realphoto.yaml"
RUN_FIELDS = ("ck_kfold", "ck_random", "ck_kfold_scratch")


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--run-dir", default=str(DEFAULT_RUN), help="k-fold run directory to read")
    p.add_argument("--train", action="store_true", help="train the run first (configs/face/ck_kfold_realphoto.yaml)")
    args = p.parse_args()
    run_dir = Path(args.run_dir)
    if args.train:
        subprocess.run(
            [sys.executable, "-m", "emorec.cli", "face", "train", "--config", CONFIG,
             "--out", str(run_dir)] + (["--data", args.data] if args.data else []),
            check=True, cwd=common.REPO_ROOT,
        )
    figures = common.kfold_run_figures(
        run_dir, task="face", dataset="CK+48", protocol="subject-independent stratified 10-fold CV",
        trained_by=f"EMOREC_DATA=../shared/data emorec face train --config {CONFIG} --out benchmarks/runs/ck_kfold_realphoto "
                   "(fine-tuned from the shipped model's weights, .devdata/runs/main_a/epoch_03.safetensors)")
    out = common.write_result(NAME, figures, quick=args.quick, title="CK+48 subject-independent 10-fold CV")
    print(f"accuracy {figures['accuracy']['value']:.4f}  balanced {figures['balanced_accuracy']['value']:.4f}  "
          f"macro-F1 {figures['macro_f1']['value']:.4f}  (n = {figures['n']}) -> {out}")


if __name__ == "__main__":
    common.run_main(main)
