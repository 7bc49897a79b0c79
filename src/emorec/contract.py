"""The recogniser contract every modality implements (face, voice, and the coming video).

The CLI, the server and the benchmarks use recognisers only through this
:class:`Recognizer` protocol, so a new modality plugs in without touching them.

Batch policy, the same on both sides: ``predict_batch(sources, errors=...)``
with ``errors="raise"`` raises the first unusable input's
:class:`~emorec.errors.InputError`; with ``errors="return"`` that input's slot
reports the problem instead and the batch goes on (a face slot holds the
InputError itself, since a list of faces cannot carry one; a voice slot holds a
``VoiceResult`` whose ``error`` says why). Defaults keep each side's historic
behaviour: faces ``"raise"``, voices ``"return"``.

Sources: a path, the file's bytes, or an array (BGR image; audio samples with
``sample_rate=``). ``name`` labels the input in results and error messages.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Protocol, Union, runtime_checkable

import numpy as np

from emorec.cards import ModelCard

Source = Union[str, Path, bytes, np.ndarray]
ErrorPolicy = Literal["raise", "return"]


@runtime_checkable
class Recognizer(Protocol):
    """An ONNX model plus its card that turns a source into an emotion result."""

    task: str  # "face", "voice", ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def card(self) -> ModelCard: ...

    def predict(self, source: Source, *, name: str | None = None) -> Any: ...

    def predict_batch(self, sources: Iterable[Source], *, errors: ErrorPolicy = ...) -> list[Any]: ...


def check_error_policy(errors: str) -> None:
    if errors not in ("raise", "return"):
        raise ValueError("errors must be 'raise' or 'return'")
