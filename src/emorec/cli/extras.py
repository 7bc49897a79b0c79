"""One place that turns a missing optional dependency into a one-line message (exit code 2).

Commands call :func:`require_extra` before doing any work, so
``emorec face train`` without torch says what to install instead of ending in
a ``ModuleNotFoundError`` traceback. Only whether the modules can be *found*
is checked (nothing is imported), so a real import bug inside emorec is never
hidden behind this message.
"""
from __future__ import annotations

import importlib.util

from emorec.errors import EmorecError

# extra -> the modules whose absence means the extra is not installed (see pyproject.toml)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "sklearn", "onnx", "safetensors"),
    "serve": ("fastapi", "uvicorn", "multipart"),
    "report": ("matplotlib",),
}


class MissingExtraError(EmorecError):
    """An optional dependency group (``emorec[train]`` ...) is not installed."""


def missing_modules(extra: str) -> list[str]:
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return [m for m in EXTRAS[extra] if _find(m) is None]


def _find(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a broken parent package counts as missing
        return None


def require_extra(extra: str, command: str = "this command") -> None:
    """Raise :class:`MissingExtraError` (one line, exit 2) when ``extra``'s modules are missing."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{command} needs the '{extra}' extra ({', '.join(missing)} not installed): pip install 'emorec[{extra}]'"
        )
