"""A missing optional dependency is one line naming the install command, exit code 2, before any work."""
from __future__ import annotations

import subprocess
import sys

import pytest

from emorec.cli import extras
from emorec.errors import EmorecError

# Runs emorec with the named top-level modules made unimportable (as if the extra were not installed).
HIDE = """
import importlib.abc, sys
HIDDEN = set(sys.argv[1].split(","))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Hide())
import emorec.cli
emorec.cli.main(sys.argv[2:])
"""


def run_without(modules: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE, modules, *args], capture_output=True, text=True, timeout=120)


def test_require_extra_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setitem(extras.EXTRAS, "train", ("no_such_module_for_emorec_tests",))
    with pytest.raises(extras.MissingExtraError, match=r"pip install 'emorec\[train\]'") as exc:
        extras.require_extra("train", "emorec face train")
    assert isinstance(exc.value, EmorecError) and "\n" not in str(exc.value)
    assert "emorec face train needs the 'train' extra" in str(exc.value)


def test_installed_extras_pass_and_unknown_extras_are_bugs() -> None:
    extras.require_extra("report")  # matplotlib is part of the dev install
    with pytest.raises(ValueError):
        extras.require_extra("nonsense")


@pytest.mark.parametrize(
    "hidden, args, extra",
    [
        ("torch", ["face", "train", "--dataset", "fer2013"], "train"),
        ("torch", ["voice", "train", "--corpus", "ravdess"], "train"),
        ("torch", ["voice", "export", "runs/x", "--out", "x.onnx"], "train"),
        ("fastapi,uvicorn", ["serve"], "serve"),
        ("matplotlib", ["report", "runs/x"], "report"),
    ],
)
def test_commands_without_their_extra_exit_2_with_one_line(hidden, args, extra, tmp_path) -> None:
    proc = run_without(hidden, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"pip install 'emorec[{extra}]'" in lines[0]


def test_inference_commands_work_without_torch(face_model, example_photo) -> None:
    proc = run_without("torch", "face", "predict", str(example_photo), "--model", str(face_model), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert '"faces"' in proc.stdout
