"""Property-based tests (hypothesis) of the decoders that read untrusted bytes.

Random and mutated bytes never crash the image, audio and multipart decoders, never
use more than a bounded amount of memory, and every refusal is one line with a reason.
"""

from __future__ import annotations

import asyncio
import io
import tracemalloc

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from emorec.errors import InputError  # noqa: E402

MEMORY_LIMIT = 64 * 1024 * 1024  # tracemalloc peak per decode (numpy and Python allocations)
COMMON = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed_image() -> bytes:
    import cv2

    img = (np.indices((40, 48)).sum(axis=0) % 256).astype(np.uint8)
    ok, png = cv2.imencode(".png", cv2.merge([img, img, img]))
    assert ok
    return png.tobytes()


def _seed_jpeg() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full((40, 48, 3), 120, np.uint8))
    assert ok
    return buf.tobytes()


def _seed_audio(fmt: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(4000) / 8000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 8000, format=fmt)
    return buf.getvalue()


SEEDS_IMAGE = [_seed_image(), _seed_jpeg()]
SEEDS_AUDIO = [_seed_audio("WAV"), _seed_audio("FLAC")]


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed file with bytes flipped, cut short, or a random slice spliced in; or random bytes."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
        if draw(st.booleans()):
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = draw(st.binary(max_size=64))
        return bytes(data)

    return st.one_of(build(), st.binary(max_size=2048))


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


def _bounded(fn):  # noqa: ANN001, ANN202
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"peak {peak / 1e6:.0f} MB"
    return result


@COMMON
@given(mutated(SEEDS_IMAGE))
def test_image_bytes_never_crash(data: bytes) -> None:
    from emorec.face.imageio import decode_bytes

    try:
        image = _bounded(lambda: decode_bytes(data, mode="gray", name="x.png", max_pixels=1_000_000))
    except InputError as exc:
        _one_line(str(exc))
    else:
        assert image.dtype == np.uint8 and image.ndim == 2 and image.size <= 1_000_000


@COMMON
@given(mutated(SEEDS_IMAGE))
def test_served_image_decoder_never_crashes(data: bytes) -> None:
    from emorec.serve.decode import decode_image
    from emorec.serve.errors import ApiError

    try:
        image = _bounded(lambda: decode_image("x.png", data, max_pixels=1_000_000))
    except ApiError as exc:
        assert exc.status in (400, 413, 415, 422)
        _one_line(exc.detail)
    else:
        assert image.dtype == np.uint8 and image.size <= 1_000_000


@COMMON
@given(mutated(SEEDS_AUDIO))
def test_served_audio_decoder_never_crashes(data: bytes) -> None:
    from emorec.serve.decode import decode_audio
    from emorec.serve.errors import ApiError

    try:
        audio = _bounded(lambda: decode_audio("x.wav", data, max_seconds=5, max_samples=200_000, target_rate=16000))
    except ApiError as exc:
        assert exc.status in (400, 413, 415, 422)
        _one_line(exc.detail)
    else:
        assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()
        assert audio.seconds <= 5.01


@COMMON
@given(mutated(SEEDS_AUDIO))
def test_audio_file_reader_never_crashes(tmp_path_factory, data: bytes) -> None:
    from emorec.voice.audio import read_audio

    path = tmp_path_factory.mktemp("audio") / "x.wav"
    path.write_bytes(data)
    try:
        samples = _bounded(lambda: read_audio(path, max_seconds=5))
    except InputError as exc:
        _one_line(str(exc))
    else:
        assert samples.dtype == np.float32 and np.isfinite(samples).all()


class _Request:
    """Just what emorec.serve.uploads reads: headers, query parameters and a body stream."""

    def __init__(self, body: bytes, content_type: str, chunk: int) -> None:
        self.headers = {"content-type": content_type}
        self.query_params: dict[str, str] = {}
        self._body, self._chunk = body, max(1, chunk)

    async def stream(self):  # noqa: ANN201
        for i in range(0, len(self._body), self._chunk):
            yield self._body[i : i + self._chunk]


def _form(data: bytes, boundary: str = "b0undary") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


@COMMON
@given(mutated([_form(b"\xff\xd8\xff" + bytes(200))]), st.integers(1, 300))
def test_multipart_reader_never_crashes(body: bytes, chunk: int) -> None:
    import time

    from emorec.serve.errors import ApiError
    from emorec.serve.uploads import read_upload

    request = _Request(body, "multipart/form-data; boundary=b0undary", chunk)
    try:
        upload = _bounded(lambda: asyncio.run(read_upload(request, 1000, "image", time.monotonic() + 30)))
    except ApiError as exc:
        assert exc.status in (400, 413)
        _one_line(exc.detail)
    else:
        assert len(upload.data) <= 1000 and "\n" not in upload.filename


@COMMON
@given(st.binary(min_size=0, max_size=3000), st.integers(1, 500))
def test_multipart_size_limit_holds_for_any_file(data: bytes, chunk: int) -> None:
    import time

    from emorec.serve.errors import ApiError
    from emorec.serve.uploads import read_upload

    request = _Request(_form(data), "multipart/form-data; boundary=b0undary", chunk)
    try:
        upload = asyncio.run(read_upload(request, 1000, "image", time.monotonic() + 30))
    except ApiError as exc:
        assert exc.status == 413 and len(data) > 1000 or exc.status == 400
    else:
        assert upload.data == data
