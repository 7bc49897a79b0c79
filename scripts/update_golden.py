"""Regenerate the golden CLI outputs in tests/golden/ from the current code.

Run this (from anywhere) only when a change to the numbers is intended, e.g. a
new default face detector or a retrained packaged model, and say why in the
commit message:

    python scripts/update_golden.py            # both modalities
    python scripts/update_golden.py face       # only `emorec face predict`

The golden test (tests/golden/test_golden.py) runs the same commands and
compares the JSON with these files, floats within a small tolerance.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

# name -> CLI arguments; run from the repository root so paths read "examples/...".
COMMANDS: dict[str, list[str]] = {
    "face": ["face", "predict", "examples/", "--format", "json"],
    "voice": ["voice", "predict", "examples/", "--format", "json"],
}


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}_predict_examples.jsonl"


def run_cli(args: list[str]) -> str:
    """stdout of ``emorec ARGS`` run in the repository root (the code this Python imports)."""
    done = subprocess.run(
        [sys.executable, "-m", "emorec.cli", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"emorec {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def main(argv: list[str]) -> int:
    names = argv or list(COMMANDS)
    for name in names:
        if name not in COMMANDS:
            raise SystemExit(f"unknown golden {name!r}; choose from {', '.join(COMMANDS)}")
        out = run_cli(COMMANDS[name])
        golden_path(name).write_text(out)
        print(f"wrote {golden_path(name).relative_to(ROOT)} ({len(out.splitlines())} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
