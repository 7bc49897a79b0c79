"""Usage mistakes (unknown option, missing argument) print click's short message, never a traceback."""
from __future__ import annotations

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
