"""One ONNX evaluation path: both sides write a run directory that `emorec report` reads."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from emorec.evaluation.onnx_eval import score, write_eval_run
from emorec.evaluation.rundir import load_run
from emorec.testing import make_ravdess_folder, make_voice_model


def emorec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emorec.cli", *args], capture_output=True, text=True, timeout=300)


def test_score_and_run_directory(tmp_path) -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    metrics = score([0, 1, 1], probs, ["a", "b"], dataset="toy")
    assert metrics["n"] == 3 and metrics["accuracy"] == 2 / 3 and metrics["dataset"] == "toy"
    out = write_eval_run(tmp_path / "run", metrics, [0, 1, 1], probs, ["s1", "s2", "s2"], ["x", "y", "z"])
    run = load_run(out)
    assert run.predictions is not None and run.predictions.y_true.tolist() == [0, 1, 1]


def test_voice_evaluate_writes_a_run_dir_that_report_reads(tmp_path) -> None:
    make_ravdess_folder(tmp_path / "ravdess", actors=(1, 2), emotions=(1, 3, 5))
    model = make_voice_model(tmp_path / "v.onnx")
    out = tmp_path / "eval"
    proc = emorec("voice", "evaluate", "--model", str(model), "--corpus", f"ravdess={tmp_path / 'ravdess'}",
                  "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 12 and metrics["dataset"] == "ravdess"
    with np.load(out / "predictions.npz") as p:
        assert p["probs"].shape == (12, 8) and set(p["groups"].tolist()) == {"ravdess:01", "ravdess:02"}
    again = emorec("voice", "evaluate", "--model", str(model), "--corpus", f"ravdess={tmp_path / 'ravdess'}",
                   "--out", str(out))
    assert again.returncode == 2 and "already holds metrics.json" in again.stderr
    report = emorec("report", str(out), "--resamples", "20")
    assert report.returncode == 0, report.stderr
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
