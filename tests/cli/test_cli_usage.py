"""Usage mistakes (unknown option, missing argument) print click's short message, never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_emorec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emorec.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (("voice", "train", "--no-such-option"), "No such option: --no-such-option"),
        (("face", "predict"), "Missing argument"),
        (("nonsense",), "No such command"),
    ],
)
def test_usage_errors_are_one_message_exit_2(args, message):
    proc = run_emorec(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_exits_0():
    proc = run_emorec("--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout


def test_unexpected_errors_keep_their_own_traceback_and_abort_exits_1(tmp_path):
    # A bug inside a command must surface as itself (not as an error of the error handler),
    # and typer.Abort must exit 1 without a traceback.
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys, typer\n"
        "import emorec.cli as cli\n"
        "@cli.app.command('boom')\n"
        "def boom():\n"
        "    raise RuntimeError('real bug')\n"
        "@cli.app.command('stop')\n"
        "def stop():\n"
        "    raise typer.Abort()\n"
        "cli.main(sys.argv[1:])\n"
    )
    boom = subprocess.run([sys.executable, str(script), "boom"], capture_output=True, text=True, timeout=120)
    assert boom.returncode == 1
    assert "RuntimeError: real bug" in boom.stderr and "AttributeError" not in boom.stderr
    stop = subprocess.run([sys.executable, str(script), "stop"], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 1 and "Traceback" not in stop.stderr and "aborted" in stop.stderr


@pytest.mark.parametrize("task,example", [("voice", "examples/speech_calm.wav"), ("face", "examples/astronaut.jpg")])
def test_labels_the_model_lacks_are_one_line_and_exit_2(task, example):
    out = run_emorec(task, "predict", example, "--labels", "happy,bogus")
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: label 'bogus' is not one of this model's labels")
    ok = run_emorec(task, "predict", example, "--labels", "happy,sad", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    record = json.loads(ok.stdout.splitlines()[0])
    scores = record["scores"] if task == "voice" else record["faces"][0]["scores"]
    assert set(scores) == {"happy", "sad"} and sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
