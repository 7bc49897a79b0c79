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
