"""Issue 11 through the real command line: outputs never overwrite inputs, output paths are
checked before any work, bad inputs say what is wrong, missing extras name the install command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "examples" / "astronaut.jpg"
SPEECH = REPO / "examples" / "speech_calm.wav"


def emorec(*args: str, hide: tuple[str, ...] = (), timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter; ``hide`` makes those modules unimportable there."""
    code = (
        "import sys\n"
        f"for name in {list(hide)!r}:\n"
        "    sys.modules[name] = None  # import fails and find_spec says missing, as when not installed\n"
        "from emorec.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.jpg")
    shutil.copy(PHOTO, folder / "b.jpg")
    return folder


def test_voice_csv_over_its_own_input_is_refused(tmp_path):
    clip = tmp_path / "in.wav"
    shutil.copy(SPEECH, clip)
    before = clip.read_bytes()
    done = emorec("voice", "predict", str(clip), "--csv", str(clip), "--overwrite")
    assert done.returncode == 2
    assert "is one of the inputs" in one_line_error(done)
    assert clip.read_bytes() == before  # before the fix: truncated to 0 bytes


def test_face_csv_over_an_input_found_in_a_folder_is_refused(photos):
    before = (photos / "b.jpg").read_bytes()
    done = emorec("face", "predict", str(photos), "--csv", str(photos / "b.jpg"), "--overwrite")
    assert done.returncode == 2
    assert "is one of the inputs" in one_line_error(done)
    assert (photos / "b.jpg").read_bytes() == before  # before the fix: replaced by the CSV


def test_annotate_into_the_input_folder_is_refused_and_subfolders_are_skipped_later(photos):
    done = emorec("face", "predict", str(photos), "--annotate", str(photos))
    assert done.returncode == 2 and "is the input folder" in one_line_error(done)
    assert sorted(p.name for p in photos.iterdir()) == ["a.jpg", "b.jpg"]
    first = emorec("face", "predict", str(photos), "--annotate", str(photos / "annotated"), "--format", "json")
    assert first.returncode == 0, first.stderr
    assert len(list((photos / "annotated").glob("*.jpg"))) == 2
    rerun = emorec("face", "predict", str(photos), "--format", "json")
    assert rerun.returncode == 0
    assert len(rerun.stdout.splitlines()) == 2, rerun.stdout  # the annotated copies are not inputs


@pytest.mark.parametrize(
    "option,make,expect",
    [
        ("--csv", lambda t: t / "nodir" / "x.csv", "does not exist"),
        ("--csv", lambda t: t, "is a folder"),
        ("--plot", lambda t: t / "nodir" / "x.png", "does not exist"),
        ("--plot", lambda t: t / "x.wav", "ending in"),
    ],
)
def test_voice_output_paths_are_checked_before_any_work(tmp_path, option, make, expect):
    clip = tmp_path / "in.wav"
    shutil.copy(SPEECH, clip)
    done = emorec("voice", "predict", str(clip), option, str(make(tmp_path)), "--overwrite")
    assert done.returncode == 2, done.stdout + done.stderr
    assert expect in one_line_error(done)
    assert done.stdout == ""  # nothing was predicted, then lost


def test_dev_zero_and_a_fifo_are_refused(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    done = emorec("face", "predict", "/dev/zero", str(fifo), timeout=120)
    assert done.returncode == 1
    assert "is a device" in done.stderr and "named pipe" in done.stderr
    assert "Traceback" not in done.stderr


def test_symlink_loops_in_folders_are_counted(photos):
    (photos / "loop.jpg").symlink_to(photos / "loop.jpg")
    done = emorec("face", "predict", str(photos))
    assert done.returncode == 0
    assert "symbolic link loop" in done.stderr
    assert "2 of 3 inputs processed" in done.stderr and "1 failed" in done.stderr


def test_names_with_newlines_stay_on_one_line(tmp_path):
    odd = tmp_path / "two\nlines.jpg"
    shutil.copy(PHOTO, odd)
    done = emorec("face", "predict", str(odd))
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1 and "two\\nlines.jpg" in done.stdout


def test_truncated_video_warns_what_was_lost(tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    done = emorec("face", "predict", str(cut), "--every", "10")
    assert "warning:" in done.stderr and "sampled frames are missing" in done.stderr


@pytest.mark.parametrize(
    "args,hide,extra",
    [
        (["serve"], ("uvicorn",), "serve"),
        (["face", "train", "--dataset", "folder"], ("torch",), "train"),
        (["face", "export", "runs/none", "--out", "x.onnx"], ("torch",), "train"),
        (["voice", "train", "--corpus", "ravdess"], ("torch",), "train"),
        (["voice", "predict", str(SPEECH), "--plot", "plot.png"], ("matplotlib",), "report"),
    ],
)
def test_missing_extras_name_the_install_command(tmp_path, args, hide, extra):
    args = [str(tmp_path / "plot.png") if a == "plot.png" else a for a in args]
    done = emorec(*args, hide=hide)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line_error(done)
    assert f"pip install 'emorec[{extra}]'" in line
    assert done.stdout == ""  # before any work is done


def test_ctrl_c_says_what_was_done_and_where_the_outputs_are(tmp_path):
    import signal

    folder = tmp_path / "many"
    folder.mkdir()
    # Many photos: results come out a batch at a time, so the run must be far longer than one batch.
    for i in range(3000):
        shutil.copy(PHOTO, folder / f"p{i:04d}.jpg")
    table = tmp_path / "faces.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emorec.cli", "face", "predict", str(folder), "--csv", str(table)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        # Unbuffered: the two lines read below are really early results, not a block flushed at exit
        # (with a buffered pipe and 200 photos, CI once saw the whole run finish before the signal).
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A shell's background job inherits SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: give the child the default disposition a terminal user has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Two results out (so the first one's CSV row is written too): interrupt mid-run.
    assert proc.stdout.readline() and proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted after" in stderr and f"table in {table}" in stderr
    assert "Traceback" not in stderr
    rows = table.read_text().splitlines()
    assert rows[0].startswith("path,") and len(rows) >= 2  # what was done is kept


def test_evaluate_json_never_replaces_the_runs_own_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    metrics = run / "metrics.json"
    metrics.write_text('{"accuracy": 0.5}')
    done = emorec("voice", "evaluate", str(run), "--json", str(metrics), "--overwrite")
    assert done.returncode == 2 and "is one of the inputs" in one_line_error(done)
    assert metrics.read_text() == '{"accuracy": 0.5}'
    existing = tmp_path / "old.json"
    existing.write_text("keep")
    done = emorec("face", "evaluate", "--json", str(existing), "--data", str(tmp_path / "none"))
    assert done.returncode == 2 and "already exists" in one_line_error(done)
    assert existing.read_text() == "keep"
