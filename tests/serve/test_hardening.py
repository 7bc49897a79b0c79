"""Issue 11, the service: slow uploads, upload bounds, readiness under load, allowed hosts,
JSON for requests uvicorn rejects, and audio decompression bombs."""
from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from .helpers import FakeFace, FakeVoice, free_port, jpeg_bytes, speech_like, wav_bytes

JPEG = jpeg_bytes(320, 240)


# ------------------------------------------------------------------ an in-process ASGI client


def _scope(path: str, content_type: bytes = b"image/jpeg", method: str = "POST", host: bytes = b"test") -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"content-type", content_type), (b"host", host)],
            "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}


async def _request(app, path: str, chunks: list[bytes], delay: float = 0.0, method: str = "POST") -> dict:
    """One request whose body arrives in ``chunks``, ``delay`` seconds apart; the response."""
    sent: list[dict] = []
    index = 0

    async def receive():
        nonlocal index
        if index < len(chunks):
            if index and delay:
                await asyncio.sleep(delay)
            index += 1
            return {"type": "http.request", "body": chunks[index - 1], "more_body": index < len(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(_scope(path, method=method), receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return {"status": status, "body": json.loads(body) if body else None}


def _run(app, scenario):
    async def main():
        async with app.router.lifespan_context(app):
            return await scenario()

    return asyncio.run(main())


def _app(**settings):
    from emorec.serve.app import create_app
    from emorec.serve.settings import ServeSettings

    return create_app(ServeSettings(**settings), face=FakeFace(), voice=FakeVoice())


def _trickle(n: int = 40) -> list[bytes]:
    return [JPEG[:3]] + [b"\x00"] * n  # a JPEG start, then a byte at a time


# ------------------------------------------------------------------ slow uploads


def test_slow_uploads_do_not_take_processing_slots():
    """3 slow uploads on a server with 1 processing slot: a normal request still succeeds
    (before: the slow uploads held every slot and it got 503 busy)."""
    app = _app(threads=1, queue_size=0, request_timeout=20)  # only settings that existed before

    async def scenario():
        slow = [asyncio.create_task(_request(app, "/v1/face", _trickle(), delay=0.2)) for _ in range(3)]
        await asyncio.sleep(0.3)
        normal = await _request(app, "/v1/face", [JPEG])
        ready = await _request(app, "/readyz", [b""], method="GET")
        for task in slow:
            task.cancel()
        return normal, ready

    normal, ready = _run(app, scenario)
    assert normal["status"] == 200, normal
    assert ready["status"] == 200, ready  # 3 uploads of 32 allowed: not saturated


def test_upload_below_the_minimum_rate_is_cut_off():
    """A client sending a byte every 0.2 s is answered 408 once the grace period is over,
    not after the whole request timeout (before: it held on for request_timeout)."""
    app = _app(min_upload_rate=1000, upload_grace=0.5, request_timeout=30)

    async def scenario():
        start = time.perf_counter()
        response = await _request(app, "/v1/face", _trickle(200), delay=0.2)
        return response, time.perf_counter() - start

    response, elapsed = _run(app, scenario)
    assert response["status"] == 408 and response["body"]["error"] == "request_timeout"
    assert "too slow" in response["body"]["detail"]
    assert elapsed < 3, elapsed


def test_a_fast_upload_passes_the_rate_check():
    app = _app(min_upload_rate=1000, upload_grace=0.2)
    chunks = [JPEG[i : i + 4096] for i in range(0, len(JPEG), 4096)]

    async def scenario():
        return await _request(app, "/v1/face", chunks, delay=0.01)

    assert _run(app, scenario)["status"] == 200


def test_concurrent_uploads_are_bounded_and_readiness_says_so():
    app = _app(max_uploads=2, min_upload_rate=0, request_timeout=20, retry_after=3)

    async def scenario():
        slow = [asyncio.create_task(_request(app, "/v1/face", _trickle(), delay=0.2)) for _ in range(2)]
        await asyncio.sleep(0.3)
        third = await _request(app, "/v1/face", [JPEG])
        ready = await _request(app, "/readyz", [b""], method="GET")
        for task in slow:
            task.cancel()
        await asyncio.sleep(0.05)
        after = await _request(app, "/readyz", [b""], method="GET")
        return third, ready, after

    third, ready, after = _run(app, scenario)
    assert third["status"] == 503 and third["body"]["error"] == "busy"
    assert ready["status"] == 503 and "saturated" in ready["body"]["detail"]
    assert after["status"] == 200


def test_readiness_reflects_full_processing_slots(make_client):
    from .test_api import post_face

    gate = threading.Event()
    face = FakeFace(gate=gate)
    with make_client(face=face, voice=FakeVoice(), threads=1, queue_size=0) as c:
        assert c.get("/readyz").status_code == 200
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post_face, c, JPEG)
            assert face.entered.wait(5)
            busy = c.get("/readyz")
            assert busy.status_code == 503 and "saturated" in busy.json()["detail"]
            assert busy.headers["retry-after"]
            gate.set()
            assert first.result(10).status_code == 200
        assert c.get("/readyz").status_code == 200


# ------------------------------------------------------------------ allowed hosts


def test_allowed_hosts(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), allowed_hosts=("api.example.com", "*.internal")) as c:
        wrong = c.get("/healthz", headers={"host": "evil.example.org"})
        assert wrong.status_code == 400
        assert wrong.headers["content-type"] == "application/json"
        assert wrong.json()["error"] == "invalid_host"
        assert c.get("/healthz", headers={"host": "api.example.com:8443"}).status_code == 200
        assert c.get("/healthz", headers={"host": "node1.internal"}).status_code == 200
        assert c.get("/healthz", headers={"host": "internal"}).status_code == 400
    with make_client(face=FakeFace(), voice=FakeVoice()) as c:  # default: any host
        assert c.get("/healthz", headers={"host": "anything"}).status_code == 200


def test_allowed_hosts_from_the_environment():
    from emorec.serve.settings import ServeSettings

    s = ServeSettings.from_env({"EMOREC_SERVE_ALLOWED_HOSTS": "a.example, b.example",
                                "EMOREC_SERVE_MIN_UPLOAD_RATE": "2048", "EMOREC_SERVE_MAX_UPLOADS": "5"})
    assert s.allowed_hosts == ("a.example", "b.example")
    assert s.min_upload_rate == 2048 and s.max_uploads == 5
    assert ServeSettings.from_env(s.to_env()) == s


# ------------------------------------------------------------------ what uvicorn rejects


@pytest.fixture
def live_server(monkeypatch):
    """The app under uvicorn with emorec's protocol class, in a thread; yields the port."""
    uvicorn = pytest.importorskip("uvicorn")
    monkeypatch.setenv("EMOREC_SERVE_HEADER_TIMEOUT", "0.6")
    port = free_port()
    config = uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="critical",
                            http="emorec.serve.protocol:JsonH11Protocol", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, payload: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(payload)
        data = b""
        while True:
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            if not got:
                break
            data += got
    return data, time.perf_counter() - start


def _split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, body


def test_malformed_request_answers_json(live_server):
    response, _ = _exchange(live_server, b"THIS IS NOT HTTP\r\n\r\n")
    status, headers, body = _split(response)
    assert status.startswith("HTTP/1.1 400"), response
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "bad_request"


def test_slow_request_headers_are_cut_off(live_server):
    response, elapsed = _exchange(live_server, b"POST /v1/face HTTP/1.1\r\nHost: x\r\n")  # head never ends
    status, headers, body = _split(response)
    assert status.startswith("HTTP/1.1 408"), response
    assert json.loads(body)["error"] == "request_timeout"
    assert elapsed < 4


def test_normal_requests_still_work_under_the_protocol(live_server):
    body = JPEG
    request = (b"POST /v1/face HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nConnection: close\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    response, _ = _exchange(live_server, request)
    status, _, payload = _split(response)
    assert status.startswith("HTTP/1.1 200"), response[:300]
    assert json.loads(payload)["kind"] == "image"


# ------------------------------------------------------------------ audio bombs


def _flac_bomb(seconds: float, rate: int = 384_000, channels: int = 8) -> bytes:
    """A small FLAC that decodes to a lot of samples: a quiet tone on 8 channels at 384 kHz."""
    import soundfile as sf

    n = int(seconds * rate)
    tone = np.zeros(n, np.int16)  # silence after a short tone compresses to almost nothing
    tone[: rate // 4] = (np.sin(2 * np.pi * 220 * np.arange(rate // 4) / rate) * 300).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, np.repeat(tone[:, None], channels, axis=1), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _flac_bomb(6.0)


def test_audio_bomb_is_refused_from_the_header(bomb):
    from emorec.serve.decode import decode_audio
    from emorec.serve.errors import ApiError

    assert len(bomb) < 2_000_000  # small upload ...
    with pytest.raises(ApiError) as caught:  # ... that would decode to 18 M samples
        decode_audio("bomb.flac", bomb, max_seconds=60, max_samples=4_000_000)
    assert caught.value.status == 413 and caught.value.code == "audio_too_large"
    assert "8 channels at 384000 Hz" in caught.value.detail


def test_audio_bomb_decodes_in_blocks_when_allowed(bomb):
    """Decoded with the sample limit off, 6 s x 8 channels x 384 kHz (74 MB as float32)
    never sits in memory at once: blocks are mixed down and resampled as they come."""
    from emorec.serve.decode import decode_audio

    tracemalloc.start()
    try:
        audio = decode_audio("bomb.flac", bomb, max_seconds=60, max_samples=None, target_rate=16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.sample_rate == 16000 and abs(audio.seconds - 6.0) < 0.01
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_block_decoding_matches_whole_file_decoding():
    import soundfile as sf
    import soxr

    from emorec.serve.decode import decode_audio

    stereo = np.stack([speech_like(3.0, sr=44100, seed=1), speech_like(3.0, sr=44100, seed=2)], axis=1)
    buf = io.BytesIO()
    sf.write(buf, stereo, 44100, format="WAV", subtype="FLOAT")
    got = decode_audio("s.wav", buf.getvalue(), max_seconds=10, target_rate=16000)
    want = soxr.resample(stereo.mean(axis=1).astype(np.float32), 44100, 16000, quality="HQ")
    assert abs(len(got.samples) - len(want)) <= 2
    n = min(len(got.samples), len(want))
    assert np.max(np.abs(got.samples[:n] - want[:n])) < 1e-3


def test_audio_bomb_over_http_is_a_413(make_client, bomb):
    with make_client(face=FakeFace(), voice=FakeVoice(), max_audio_samples=4_000_000) as c:
        r = c.post("/v1/voice", files={"file": ("bomb.flac", bomb, "audio/flac")})
    assert r.status_code == 413 and r.json()["error"] == "audio_too_large"


def test_default_limits_refuse_the_issue_bomb_shape():
    """The issue's bomb: 59 s, 8 channels, 384 kHz = 181 M samples; the default limit is far below."""
    from emorec.serve.settings import ServeSettings

    assert 59 * 8 * 384_000 > ServeSettings().max_audio_samples >= 60 * 2 * 96_000


def test_wav_still_decodes_at_native_rate_without_target():
    from emorec.serve.decode import decode_audio

    audio = decode_audio("a.wav", wav_bytes(speech_like(1.0, sr=22050), sr=22050), max_seconds=5)
    assert audio.sample_rate == 22050 and len(audio.samples) == 22050


@pytest.mark.slow
def test_emorec_serve_uses_the_json_protocol_and_the_new_options(synthetic_face_model):
    """Through the real command: uvicorn gets emorec's protocol class and the new options."""
    from .helpers import serve_subprocess

    args = ["--task", "face", "--face-model", str(synthetic_face_model), "--allowed-host", "127.0.0.1",
            "--max-uploads", "4", "--min-upload-rate", "1024"]
    with serve_subprocess(args, env={"EMOREC_SERVE_HEADER_TIMEOUT": "1"}) as (url, _proc):
        port = int(url.rsplit(":", 1)[1])
        response, _ = _exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = _split(response)
        assert status.startswith("HTTP/1.1 400") and headers["content-type"] == "application/json"
        assert json.loads(body)["error"] == "bad_request"
        response, elapsed = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _split(response)[0].startswith("HTTP/1.1 408") and elapsed < 5
        wrong, _ = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        assert _split(wrong)[0].startswith("HTTP/1.1 400") and b"invalid_host" in wrong
