"""ONNX Runtime sessions bound to their model card, and the packaged models. Never imports torch.

Loading checks that the card and the file agree: the card's ``onnx_sha256``
(when it has one) must be the file's, and the output width must match the
labels. ``providers`` picks ONNX Runtime execution providers: ``"cpu"`` (the
default), ``"auto"`` (CUDA when this onnxruntime has it, else CPU), ``"cuda"``,
or an explicit list of provider names.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emorec.cards import ModelCard, card_path_for, sha256_file
from emorec.errors import ModelError, UsageError
from emorec.paths import PACKAGE_MODELS
from emorec.registry import Registry

# Packaged models by name -> .onnx path (card beside it). Plug-ins add theirs through the
# ``emorec.models`` entry-point group (the entry point loads to a path or a callable returning one).
MODELS: Registry[Any] = Registry("packaged model", entry_point_group="emorec.models")
MODELS.register("face", PACKAGE_MODELS / "face.onnx")
MODELS.register("voice", PACKAGE_MODELS / "voice.onnx")


def packaged_model(name: str) -> Path:
    """Path of a model shipped inside the package, e.g. ``packaged_model("face")``."""
    entry = MODELS.get(name)
    path = Path(entry() if callable(entry) else entry)
    if not path.is_file():
        raise ModelError(
            f"the packaged model {path.name} is missing from {path.parent}: reinstall emorec"
        )
    return path


@dataclass(frozen=True)
class PackagedModel:
    """A packaged model and its card, for ``emorec models list``."""

    name: str
    path: Path
    card: ModelCard | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.card is None:
            return {"name": self.name, "path": str(self.path), "error": self.problem}
        metrics = self.card.metrics or {}
        return {"name": self.name, "path": str(self.path), "card": self.card.name, "task": self.card.task,
                "labels": list(self.card.labels), "architecture": self.card.architecture,
                "accuracy": metrics.get("accuracy"), "balanced_accuracy": metrics.get("balanced_accuracy"),
                "macro_f1": metrics.get("macro_f1"), "dataset": metrics.get("dataset"),
                "protocol": metrics.get("protocol"), "license": self.card.license, "error": None}

    def headline(self) -> str:
        """``face  emorec-face-... (face, 7 labels): accuracy 71.2%, UAR 69.0% on fer2013 (...); licence``."""
        if self.card is None:
            return f"{self.name}: unavailable ({self.problem})"
        d = self.to_dict()
        scores = ", ".join(f"{key} {100 * d[k]:.1f}%" for key, k in (("accuracy", "accuracy"),
                           ("UAR", "balanced_accuracy"), ("macro-F1", "macro_f1")) if isinstance(d[k], (int, float)))
        where = " on ".join(x for x in ("", d["dataset"] or "") if x)
        protocol = f" ({d['protocol']})" if d["protocol"] else ""
        text = f"{self.name}: {self.card.name} ({self.card.task}, {len(self.card.labels)} labels: {', '.join(self.card.labels)})"
        if scores:
            text += f"; {scores}{' on ' + where if where else ''}{protocol}"
        if self.card.license:
            text += f"; licence: {self.card.license}"
        return text


def packaged_models() -> list[PackagedModel]:
    """Every registered packaged model with its card (a missing file is reported, not raised)."""
    found = []
    for name in MODELS.list():
        try:
            path = packaged_model(name)
            found.append(PackagedModel(name, path, ModelCard.load(card_path_for(path))))
        except ModelError as exc:
            entry = MODELS.get(name)
            found.append(PackagedModel(name, Path(entry() if callable(entry) else entry), None, str(exc)))
    return found


PROVIDER_CHOICES = ("cpu", "auto", "cuda")


def resolve_providers(providers: str | Sequence[str] | None = None) -> list[str]:
    """ONNX Runtime provider names for ``providers`` (default: $EMOREC_PROVIDERS, else "cpu")."""
    import onnxruntime as ort

    choice = providers if providers is not None else os.environ.get("EMOREC_PROVIDERS", "cpu")
    available = ort.get_available_providers()
    if isinstance(choice, str):
        key = choice.strip().lower()
        if key == "cpu":
            return ["CPUExecutionProvider"]
        if key == "auto":
            return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
        if key == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise UsageError("providers 'cuda': this onnxruntime has no CUDA provider "
                                 "(install onnxruntime-gpu, or use 'cpu' / 'auto')")
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        raise UsageError(f"unknown providers {choice!r}; choose from {', '.join(PROVIDER_CHOICES)} or a list of names")
    names = list(choice)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"ONNX Runtime providers {unknown} not available here; available: {', '.join(available)}")
    return names


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: hash each file once


def verify_checksum(path: Path, card: ModelCard) -> None:
    """Raise ModelError when the card's ``onnx_sha256`` is not the file's (a card without one passes)."""
    if not card.onnx_sha256:
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _VERIFIED.get(key) or sha256_file(path)
    if digest != card.onnx_sha256:
        raise ModelError(
            f"{path} does not match its card {card_path_for(path).name} (onnx_sha256 differs): "
            "the model file or the card was replaced; re-export them together"
        )
    _VERIFIED[key] = digest


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _return_freed_memory() -> None:
    """Give back to the OS what building a session freed (glibc only; elsewhere a no-op).

    Unpacking 4-bit weights is folded into float32 constants when the session loads; glibc keeps
    the freed intermediates (about 300 MB for the voice model) unless asked to trim them."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:  # by soname: ctypes.util.find_library would run ldconfig at every model load
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl or another libc: nothing to trim
        pass


@dataclass
class OnnxModel:
    """An ONNX Runtime session plus its card. ``run`` returns probabilities."""

    path: Path
    card: ModelCard
    session: Any  # onnxruntime.InferenceSession (imported lazily)
    input_name: str
    outputs_probabilities: bool

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, spinning: bool = True,
             providers: str | Sequence[str] | None = None) -> OnnxModel:
        """Open ``path`` with its card and check they agree (checksum, number of labels).

        ``spinning=False`` makes ONNX Runtime's worker threads sleep between calls
        instead of spin-waiting: right when inference alternates with other CPU
        work on the same cores (face detection, audio decoding, a web server).
        """
        import onnxruntime as ort  # imported here to keep `import emorec` fast

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file {path} not found")
        card = ModelCard.load(card_path_for(path))
        chosen = resolve_providers(providers)  # a wrong name is a usage error, not a broken model
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # small CNNs/RNNs have no parallel branches
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=chosen
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load {path} with ONNX Runtime: {exc}") from None
        _return_freed_memory()
        verify_checksum(path, card)  # after loading: a file ONNX Runtime cannot read says so first
        n_out = session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(card.labels):
            raise ModelError(
                f"{path} outputs {n_out} classes but its card lists {len(card.labels)} labels"
            )
        return cls(
            path=path,
            card=card,
            session=session,
            input_name=session.get_inputs()[0].name,
            outputs_probabilities=bool(card.outputs_probabilities),
        )

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    def run(self, batch: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, n_labels), for a preprocessed batch.

        ``extra`` feeds further named inputs of a multi-input graph (a fused voice model's ``partials``).
        """
        out = self.session.run(None, {self.input_name: batch, **extra})[0]
        return out if self.outputs_probabilities else softmax(out)
