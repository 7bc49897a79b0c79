"""The layers match the folders: inference packages never import training code or torch.

Two checks: a static one (every ``import`` statement in the inference packages,
including those inside functions) and a dynamic one (importing every inference
and CLI module in a fresh interpreter leaves torch out of ``sys.modules``).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import emorec

PACKAGE = Path(emorec.__file__).resolve().parent
# Inference packages: no torch, no emorec.training, anywhere (not even inside functions).
INFERENCE = ("face", "voice", "video")
FORBIDDEN = ("torch", "torchaudio", "emorec.training")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def inference_files() -> list[Path]:
    return sorted(p for pkg in INFERENCE if (PACKAGE / pkg).is_dir() for p in (PACKAGE / pkg).rglob("*.py"))


def test_the_static_check_sees_inference_files() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in inference_files()}
    assert {"face/recognizer.py", "face/pipeline.py", "voice/recognizer.py", "voice/features.py"} <= names


@pytest.mark.parametrize("path", inference_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_inference_modules_never_import_training_or_torch(path: Path) -> None:
    bad = [f"line {line}: import {name}" for line, name in imported_modules(path) if forbidden(name)]
    assert not bad, f"{path.relative_to(PACKAGE)} imports training code: {bad}"


def test_forbidden_catches_training_imports() -> None:
    assert forbidden("torch") and forbidden("torch.nn") and forbidden("emorec.training.voice.models")
    assert not forbidden("torchvision_free_name") and not forbidden("emorec.face.recognizer")


def test_importing_inference_and_cli_modules_loads_no_torch() -> None:
    modules = sorted(
        ".".join(("emorec", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in [*inference_files(), *(PACKAGE / "cli").rglob("*.py")]
        if p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in ('torch', 'emorec.training') if m in sys.modules]\n"
        "print(len(sys.modules), bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
