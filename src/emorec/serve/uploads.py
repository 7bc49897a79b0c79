"""Read one uploaded file from a request body into memory, enforcing the size limit while streaming.

Accepts ``multipart/form-data`` (field ``file``, or the first part with a file name)
or a raw body (``curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'``).
Nothing touches the disk: the bytes stay in memory and are dropped with the request.

Slow clients cannot starve the service: an upload holds an :class:`UploadGate`
place (bounded separately from the processing slots, which are taken only once
the body is complete), and must keep an average rate of ``min_rate`` bytes/s
after a short grace period, or it is cut off with 408.
"""
from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from emorec.serve.errors import ApiError

# Room for multipart boundaries and part headers on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024
MAX_SMALL_FIELD = 4 * 1024  # other form fields are ignored but still bounded
MAX_PARTS = 8
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Upload:
    filename: str
    data: bytes
    declared_type: str  # what the client said; informative only, never trusted


class UploadGate:
    """At most ``limit`` uploads being received at once; more are refused with 503 + Retry-After.

    Example:
        >>> gate = UploadGate(1)
        >>> with gate.enter():
        ...     gate.full
        True
    """

    def __init__(self, limit: int, retry_after: int = 1) -> None:
        self.limit = max(1, int(limit))
        self.retry_after = retry_after
        self.active = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        return self.active >= self.limit

    @contextmanager
    def enter(self) -> Iterator[None]:
        with self._lock:
            if self.active >= self.limit:
                self.rejected += 1
                raise ApiError(503, "busy", f"the server is receiving {self.limit} uploads already; retry in a moment",
                               headers={"Retry-After": str(self.retry_after)})
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


def clean_filename(raw: str | None, default: str = "upload") -> str:
    """The base name of a client-supplied file name, without control characters, at most 200 chars.

    Example:
        >>> clean_filename("C:\\\\photos\\\\me.jpg")
        'me.jpg'
    """
    if not raw:
        return default
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip()
    return name[:200] or default


def too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "upload_too_large",
                    f"the {what} upload is larger than the {_fmt_bytes(limit)} limit; send a smaller file")


def _fmt_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} bytes"


@dataclass(frozen=True)
class Pace:
    """When an upload counts as too slow: past ``deadline`` (a ``time.monotonic()`` value), or
    averaging under ``min_rate`` bytes/s once ``grace`` seconds have passed (0: no rate check)."""

    deadline: float
    min_rate: float = 0.0
    grace: float = 0.0


async def read_upload(request, max_bytes: int, what: str, deadline: float | Pace) -> Upload:  # noqa: ANN001
    """Stream the request body and return the uploaded file, or raise ApiError.

    ``deadline`` is a ``time.monotonic()`` value or a :class:`Pace`: a client that
    uploads too slowly gets 408.
    """
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if declared > max_bytes + MULTIPART_OVERHEAD:
            # Refuse before reading a byte.
            raise too_large(max_bytes, what)
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise ApiError(400, "missing_file",
                       "a URL-encoded form carries no file: send multipart/form-data with field 'file'")
    if content_type.lower().startswith("multipart/form-data"):
        return await _read_multipart(request, content_type, max_bytes, what, deadline)
    return await _read_raw(request, content_type, max_bytes, what, deadline)


def _too_slow(pace: Pace, received: int, now: float, start: float) -> ApiError:
    if now >= pace.deadline:
        return ApiError(408, "request_timeout", "the upload took too long; try again or send a smaller file")
    rate = received / max(now - start, 1e-9)
    return ApiError(408, "request_timeout",
                    f"the upload is too slow ({_fmt_bytes(int(rate))}/s; the server needs at least "
                    f"{_fmt_bytes(int(pace.min_rate))}/s); check the connection and try again")


async def _chunks(request, deadline: float | Pace):  # noqa: ANN001
    pace = deadline if isinstance(deadline, Pace) else Pace(deadline)
    stream = request.stream().__aiter__()
    start = time.monotonic()
    received = 0
    while True:
        # The next chunk must come before the overall deadline, and before the average rate
        # since the end of the grace period drops under min_rate.
        cutoff = pace.deadline
        if pace.min_rate > 0:
            cutoff = min(cutoff, start + pace.grace + received / pace.min_rate)
        now = time.monotonic()
        if cutoff - now <= 0:
            raise _too_slow(pace, received, now, start)
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=cutoff - now)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise _too_slow(pace, received, time.monotonic(), start) from None
        if chunk:
            received += len(chunk)
            yield chunk


async def _read_raw(request, content_type: str, max_bytes: int, what: str, deadline: float | Pace) -> Upload:  # noqa: ANN001
    body = bytearray()
    async for chunk in _chunks(request, deadline):
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes, what)
    name = clean_filename(request.query_params.get("filename"))
    return Upload(filename=name, data=bytes(body), declared_type=content_type)


async def _read_multipart(request, content_type: str, max_bytes: int, what: str, deadline: float | Pace) -> Upload:  # noqa: ANN001
    MultipartParser, parse_options_header = _multipart()

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart body without a boundary; send the file as form field 'file'")

    state = _FormState(max_bytes=max_bytes, what=what)
    parser = MultipartParser(boundary, callbacks=state.callbacks(), max_size=max_bytes + MULTIPART_OVERHEAD)
    total = 0
    try:
        async for chunk in _chunks(request, deadline):
            total += len(chunk)
            if total > max_bytes + MULTIPART_OVERHEAD:
                raise too_large(max_bytes, what)
            parser.write(chunk)
            if state.error is not None:
                raise state.error
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart raises its own parse errors
        raise ApiError(400, "bad_request", f"malformed multipart body ({type(exc).__name__})") from None
    if state.error is not None:
        raise state.error
    chosen = state.file_part()
    if chosen is None:
        raise ApiError(400, "missing_file", "no file in the form: send it as multipart field 'file'")
    return Upload(filename=clean_filename(chosen.filename), data=bytes(chosen.data or b""),
                  declared_type=chosen.content_type)


def _multipart():
    """python-multipart's parser; the module was renamed from ``multipart`` in 0.0.13."""
    try:
        from python_multipart.multipart import MultipartParser, parse_options_header
    except ImportError:  # python-multipart < 0.0.13
        from multipart.multipart import MultipartParser, parse_options_header
    return MultipartParser, parse_options_header


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray | None = None
    complete: bool = False


class _FormState:
    """Callbacks for python-multipart that keep file bytes in memory with a cap."""

    def __init__(self, max_bytes: int, what: str) -> None:
        self.max_bytes = max_bytes
        self.what = what
        self.parts: list[_Part] = []
        self.error: ApiError | None = None
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: _Part | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            self.error = ApiError(400, "bad_request", f"too many form fields (at most {MAX_PARTS})")
        self._headers = {}
        self._current = _Part(data=bytearray())
        self.parts.append(self._current)

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, parse_options_header = _multipart()
        part = self._current
        assert part is not None
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        part.content_type = self._headers.get(b"content-type", b"").decode("latin-1")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current
        if part is None or part.data is None or self.error is not None:
            return
        part.data += data[start:end]
        is_file = part.filename is not None or part.name == "file"
        limit = self.max_bytes if is_file else MAX_SMALL_FIELD
        if len(part.data) > limit:
            self.error = too_large(self.max_bytes, self.what) if is_file else ApiError(
                400, "bad_request", f"form field {part.name!r} is too long")
            part.data = None

    def _part_end(self) -> None:
        if self._current is not None:
            self._current.complete = True
        self._current = None

    def file_part(self) -> _Part | None:
        for part in self.parts:
            if part.name == "file" and part.complete:
                return part
        for part in self.parts:
            if part.filename is not None and part.complete:
                return part
        return None
