"""Run configs: dataclasses saved as YAML beside every run so ``--config run.yaml`` reproduces it."""
from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any, TypeVar

import yaml

from emorec.errors import EmorecError

T = TypeVar("T")


def save_config(config: Any, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a dataclass config (plus the command line that ran it) as YAML."""
    data = dataclasses.asdict(config)
    data["command"] = " ".join(shlex.quote(a) for a in ["emorec", *sys.argv[1:]]) if sys.argv else ""
    if extra:
        data.update(extra)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_config(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
    """Read a YAML config into ``cls``; unknown keys (like ``command``) are ignored."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise EmorecError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise EmorecError(f"config file {path} is not valid YAML: {exc}") from None
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls(**values)
