"""Model cards: the JSON file that travels beside every ONNX model.

The card is the single source of truth for labels, input shape, sample rate
and normalisation. Loaders read it; nothing is inferred from file names.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emorec.errors import ModelError

CARD_VERSION = 1
REQUIRED_FIELDS = ("name", "task", "labels", "input")


@dataclass
class ModelCard:
    """Everything needed to run a model and to know what its numbers mean.

    ``input`` for faces: {"size": [48, 48], "channels": 1, "layout": "NCHW",
    "scale": 1/255, "mean": m, "std": s}. For voices: {"sample_rate": 16000,
    "features": {...feature config...}, "min_seconds": x, "max_seconds": y}.
    """

    name: str
    task: str  # "face" or "voice"
    labels: list[str]
    input: dict[str, Any]
    architecture: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # data, protocol, config
    metrics: dict[str, Any] = field(default_factory=dict)  # with the command that made them
    onnx_sha256: str = ""
    emorec_version: str = ""
    card_version: int = CARD_VERSION
    license: str = ""
    notes: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model card") -> ModelCard:
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ModelError(f"{source} lacks required fields {missing}: re-export the model")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"model card {path} not found: every .onnx needs its .json beside it") from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"model card {path} is not valid JSON ({exc.msg})") from None
        return cls.from_dict(data, source=str(path))


def card_path_for(model_path: str | Path) -> Path:
    """The card of ``model.onnx`` is ``model.json`` in the same folder."""
    return Path(model_path).with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
