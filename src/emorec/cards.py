"""Model cards: the JSON file that travels beside every ONNX model.

The card is the single source of truth for labels, input shape, sample rate
and normalisation. Loaders read it; nothing is inferred from file names.

``input`` is typed and validated when the card is read: :class:`FaceInput`
for ``task="face"``, :class:`VoiceInput` for ``task="voice"`` (other tasks
keep a plain :class:`InputSpec`). A bad card fails at load time with a
:class:`~emorec.errors.ModelError` that says what to fix, not later inside
preprocessing. Input specs also read like the JSON mapping they came from
(``card.input["size"]``, ``card.input.get("margin")``) and write back the same
keys (:meth:`InputSpec.to_dict`). Both sides use the same key for the weight
format (``weights``); the face cards' older ``quantization`` is read as it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from emorec.errors import ModelError

CARD_VERSION = 1
REQUIRED_FIELDS = ("name", "task", "labels", "input")


def _plain(value: Any) -> Any:
    """JSON form of a value: tuples become lists (recursively)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class InputSpec(Mapping[str, Any]):
    """Typed ``input`` section of a card; also a read-only mapping of its JSON keys.

    ``extra`` keeps keys this version does not know, so a card survives a round trip.
    """

    extra: dict[str, Any] = field(default_factory=dict)
    # Keys as they appeared in the source (None: every field, for specs built in code).
    given: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    ALIASES: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "model card") -> InputSpec:
        if isinstance(data, InputSpec):
            return data if type(data) is cls else cls.from_dict(data.to_dict(), source)
        if data is not None and not isinstance(data, Mapping):
            raise ModelError(f"{source}: 'input' must be a JSON object, got {type(data).__name__}: re-export the model")
        data = {cls.ALIASES.get(k, k): v for k, v in dict(data or {}).items()}
        names = [f.name for f in fields(cls) if f.name not in ("extra", "given")]
        known = {k: data[k] for k in names if k in data}
        extra = {k: v for k, v in data.items() if k not in names}
        try:
            spec = cls(**known, extra=extra, given=tuple(data))
        except ModelError as exc:
            raise ModelError(f"{source}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{source}: invalid input section ({exc}): re-export the model") from None
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The JSON mapping: the keys given at load (all fields for specs built in code), then extras."""
        names = [f.name for f in fields(self) if f.name not in ("extra", "given")]
        keys = [k for k in self.given if k in names] if self.given is not None else names
        out = {k: _plain(getattr(self, k)) for k in keys}
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out

    # Mapping interface over the JSON keys
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True)
class FaceInput(InputSpec):
    """Input of a face model: a (1, channels, H, W) float crop, ``(pixel * scale - mean) / std``.

    ``crop`` (optional) is the :class:`emorec.face.crop.CropSpec` section that says how a
    detector box becomes the crop; cards without it mean a ``margin`` crop of the box.
    """

    size: tuple[int, int] = (48, 48)  # height, width
    channels: int = 1
    layout: str = "NCHW"
    scale: float = 1.0 / 255.0
    mean: float = 0.5
    std: float = 0.5
    margin: float = 0.15  # box grows by this fraction per side before cropping
    interpolation: str = "area"
    outputs_probabilities: bool = False
    tta_flip: bool = False
    weights: str = "float32"
    crop: dict[str, Any] | None = None

    ALIASES: ClassVar[dict[str, str]] = {"quantization": "weights"}

    def __post_init__(self) -> None:
        size = self.size
        if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(isinstance(v, (int, float)) for v in size):
            raise ModelError(f"card input.size must be [height, width], got {size!r}: re-export the model")
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        if min(self.size) < 1:
            raise ModelError(f"card input.size must be positive, got {list(self.size)}")
        if float(self.std) == 0.0 or float(self.scale) == 0.0:
            raise ModelError("card input.std and input.scale must be non-zero: re-export the model")
        if self.interpolation not in ("area", "linear"):
            raise ModelError(f"card input.interpolation must be 'area' or 'linear', got {self.interpolation!r}")
        if self.crop is not None:
            self.crop_spec()  # validated now, not at the first face

    def crop_spec(self) -> Any:
        """The :class:`emorec.face.crop.CropSpec` of this model (from ``crop``, else from ``margin``)."""
        from emorec.face.crop import CropSpec

        return CropSpec.from_card_input(self)


@dataclass(frozen=True)
class VoiceInput(InputSpec):
    """Input of a voice model: features of 16 kHz mono speech (``features`` is a FeatureConfig dict)."""

    sample_rate: int = 16000
    features: dict[str, Any] = field(default_factory=dict)
    kind: str = "sequence"  # "sequence": (batch, frames, dim); "vector": (batch, dim)
    layout: str = "(batch, frames, dim)"
    min_seconds: float = 0.5  # shorter speech gives an empty result
    max_seconds: float = 5.0  # longer speech is cut into segments
    max_input_seconds: float | None = None  # the longest utterance the graph takes (None: any length)
    outputs_probabilities: bool = False
    weights: str = "float32"
    policy: str = ""
    partials: dict[str, Any] | None = None  # a second input: encoder windows (emorec.voice.partials.PartialSpec)

    def __post_init__(self) -> None:
        from emorec.voice.features import FeatureConfig

        if not isinstance(self.features, Mapping):
            raise ModelError("card input.features must be an object (the feature config): re-export the model")
        try:
            FeatureConfig.from_dict(dict(self.features))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"card input.features is invalid ({exc}): re-export the model") from None
        if self.partials is not None:
            from emorec.voice.partials import PartialSpec

            try:
                spec = PartialSpec.from_dict(dict(self.partials))
                spec.feature_config  # noqa: B018 - validates the window features
            except (TypeError, ValueError) as exc:
                raise ModelError(f"card input.partials is invalid ({exc}): re-export the model") from None
        if int(self.sample_rate) <= 0:
            raise ModelError(f"card input.sample_rate must be positive, got {self.sample_rate!r}")
        if float(self.max_seconds) <= 0 or float(self.min_seconds) < 0:
            raise ModelError("card input.min_seconds must be >= 0 and input.max_seconds > 0")
        if self.max_input_seconds is not None and float(self.max_input_seconds) < float(self.max_seconds):
            raise ModelError("card input.max_input_seconds must be at least input.max_seconds: re-export the model")

    def feature_config(self) -> Any:
        """The :class:`emorec.voice.features.FeatureConfig` the model was trained with."""
        from emorec.voice.features import FeatureConfig

        return FeatureConfig.from_dict(dict(self.features))


INPUT_SPECS: dict[str, type[InputSpec]] = {"face": FaceInput, "voice": VoiceInput}


def input_spec(task: str, data: Mapping[str, Any] | None, source: str = "model card") -> InputSpec:
    """The typed input spec of a ``task`` (a plain :class:`InputSpec` for other tasks)."""
    return INPUT_SPECS.get(task, InputSpec).from_dict(data, source)


@dataclass
class ModelCard:
    """Everything needed to run a model and to know what its numbers mean.

    ``input``: :class:`FaceInput` or :class:`VoiceInput` (a dict given here is
    converted and validated). ``license`` comes from the training data's entry in
    :mod:`emorec.datasets.registry` when the card is written by ``export``.
    """

    name: str
    task: str  # "face" or "voice"
    labels: list[str]
    input: InputSpec
    architecture: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # data, protocol, config
    metrics: dict[str, Any] = field(default_factory=dict)  # with the command that made them
    onnx_sha256: str = ""
    emorec_version: str = ""
    card_version: int = CARD_VERSION
    license: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.labels, list) or not all(isinstance(x, str) for x in self.labels) or not self.labels:
            raise ModelError(f"card {self.name!r}: labels must be a non-empty list of names: re-export the model")
        self.input = input_spec(self.task, self.input, f"card {self.name!r}")

    @property
    def outputs_probabilities(self) -> bool:
        return bool(self.input.get("outputs_probabilities", False))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["input"] = self.input.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model card") -> ModelCard:
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ModelError(f"{source} lacks required fields {missing}: re-export the model")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["input"] = input_spec(str(data.get("task")), data.get("input"), source)
        try:
            return cls(**values)
        except ModelError as exc:
            raise ModelError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"model card {path} not found: every .onnx needs its .json beside it") from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"model card {path} is not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ModelError(f"model card {path} must hold a JSON object: re-export the model")
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
