"""REST API tests, in process (TestClient), with fake recognisers unless stated otherwise."""
from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from emorec.errors import InputError, ModelError

from .helpers import (
    FakeFace,
    FakeVoice,
    jpeg_bytes,
    png_bomb,
    png_bytes,
    speech_like,
    wav_bytes,
)

JPEG = jpeg_bytes()


def post_face(client, data: bytes, name: str = "photo.jpg", declared: str = "image/jpeg"):
    return client.post("/v1/face", files={"file": (name, data, declared)})


def post_voice(client, data: bytes, name: str = "clip.wav", declared: str = "audio/wav"):
    return client.post("/v1/voice", files={"file": (name, data, declared)})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail"}
    assert body["error"] == code, body
    assert body["detail"] and "Traceback" not in body["detail"]
    return body


# ------------------------------------------------------------------ endpoints


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"] == {"face": "loaded", "voice": "loaded"}


def test_models_lists_loaded_models_with_cards(client):
    models = client.get("/v1/models").json()["models"]
    assert [m["task"] for m in models] == ["face", "voice"]
    assert models[0]["card"]["name"] == "fake-face"
    assert models[0]["labels"] == ["happy", "sad"]
    assert models[1]["card"]["input"] == {"sample_rate": 16000}


def test_face_returns_cli_schema_with_uploaded_name(client, fake_face):
    r = post_face(client, JPEG, name="holiday.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"path", "kind", "faces", "error", "reason"}
    assert body["path"] == "holiday.jpg" and body["kind"] == "image"
    assert body["error"] is None and body["reason"] is None
    face = body["faces"][0]
    assert set(face) == {"box", "label", "score", "scores"}
    assert face["box"] == [160, 120, 320, 240]  # the fake's box for a 640x480 image
    assert fake_face.shapes == [(480, 640, 3)]  # decoded once, in colour as the CLI reads files (colour detectors)


def test_face_accepts_raw_body(client):
    r = client.post("/v1/face?filename=raw.jpg", content=JPEG, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "raw.jpg"


def test_face_no_face_is_an_empty_list(client):
    r = post_face(client, png_bytes(), name="flat.png")
    assert r.status_code == 200
    assert r.json()["faces"] == [] and r.json()["reason"] == "no face found"


def test_image_type_comes_from_content_not_name(client):
    # A real PNG named .txt with a bogus declared type is still analysed as an image.
    r = post_face(client, png_bytes(), name="notes.txt", declared="text/plain")
    assert r.status_code == 200, r.text


def test_voice_returns_result_and_timeline(client, fake_voice):
    r = post_voice(client, wav_bytes(speech_like(2.5, sr=22050), sr=22050), name="hello.wav")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"path", "label", "score", "scores", "segments", "error"}
    assert body["path"] == "hello.wav" and body["label"] == "calm"
    assert [s["start"] for s in body["segments"]] == [0.0, 1.0, 2.0]
    assert fake_voice.calls == [(int(2.5 * 16000), 16000)]  # decoded in blocks straight to 16 kHz mono


@pytest.mark.parametrize("fmt,name", [("FLAC", "clip.flac"), ("OGG", "clip.ogg")])
def test_voice_reads_common_formats(client, fmt, name):
    r = post_voice(client, wav_bytes(speech_like(1.5), fmt=fmt), name=name)
    assert r.status_code == 200, r.text


def test_stereo_audio_is_mixed_to_mono(client, fake_voice):
    stereo = np.stack([speech_like(1.0), speech_like(1.0, seed=1)], axis=1)
    assert post_voice(client, wav_bytes(stereo)).status_code == 200
    assert fake_voice.calls == [(16000, 16000)]


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/face", "/v1/voice", "/v1/models", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    upload = spec["paths"]["/v1/face"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["file"]["format"] == "binary"
    assert "413" in spec["paths"]["/v1/voice"]["post"]["responses"]
    assert client.get("/docs").status_code == 200


def test_api_docs_page_needs_no_cdn(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/docs-static/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get(f"/docs-static/{asset}").status_code == 200, asset
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "/docs-static/redoc.standalone.js" in redoc.text
    assert "cdn" not in redoc.text.lower() and "fonts.googleapis" not in redoc.text


def test_web_page_and_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="face-file"' in page.text and 'id="voice-file"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css", "recorder-worklet.js"):
        assert client.get(f"/static/{asset}").status_code == 200, asset


def test_unknown_route_and_wrong_method_are_json(client):
    assert_error(client.get("/v2/face"), 404, "not_found")
    assert_error(client.get("/v1/face"), 405, "method_not_allowed")


# ------------------------------------------------------------------ bad input


def test_empty_body(client):
    assert_error(client.post("/v1/face"), 400, "empty_upload")
    assert_error(client.post("/v1/voice"), 400, "empty_upload")


def test_empty_file_part(client):
    body = assert_error(post_face(client, b"", name="empty.jpg"), 400, "empty_upload")
    assert "empty.jpg" in body["detail"]


def test_form_without_file_field(client):
    r = client.post("/v1/face", files={"other": (None, "x")})
    assert_error(r, 400, "missing_file")
    assert_error(client.post("/v1/face", data={"file": "photo.jpg"}), 400, "missing_file")


def test_text_disguised_as_jpeg_is_rejected(client, fake_face):
    body = assert_error(post_face(client, b"just some text, not a photo\n" * 20, name="cat.jpg"),
                        415, "unsupported_type")
    assert "cat.jpg" in body["detail"] and "not an image" in body["detail"]
    assert fake_face.calls == 0


def test_audio_sent_to_face_endpoint_and_image_to_voice(client):
    assert_error(post_face(client, wav_bytes(speech_like(1.0)), name="x.jpg"), 415, "unsupported_type")
    assert_error(post_voice(client, JPEG, name="x.wav"), 415, "unsupported_type")


def test_truncated_jpeg(client, fake_face):
    body = assert_error(post_face(client, JPEG[: len(JPEG) // 2], name="cut.jpg"), 422, "invalid_image")
    assert "truncated" in body["detail"]
    assert fake_face.calls == 0


def test_truncated_png(client):
    import cv2

    ok, buf = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8))
    assert_error(post_face(client, buf.tobytes()[:3000], name="cut.png"), 422, "invalid_image")


def test_corrupt_image_header(client):
    assert_error(post_face(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, name="bad.png"), 422, "invalid_image")


def test_decompression_bomb_is_refused_from_the_header(client, fake_face):
    bomb = png_bomb(100_000, 100_000)
    assert len(bomb) < 2000
    body = assert_error(post_face(client, bomb, name="bomb.png"), 413, "image_too_large")
    assert "bomb.png" in body["detail"]
    assert fake_face.calls == 0


def test_pixel_limit_is_configurable(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), max_image_pixels=640 * 480 - 1) as c:
        body = assert_error(post_face(c, JPEG), 413, "image_too_large")
        assert "640x480" in body["detail"]
        assert post_face(c, jpeg_bytes(320, 240)).status_code == 200


def test_oversized_upload_with_content_length(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), max_image_bytes=len(JPEG) - 1) as c:
        body = assert_error(post_face(c, JPEG), 413, "upload_too_large")
        assert "limit" in body["detail"]
    with make_client(face=FakeFace(), voice=FakeVoice(), max_image_bytes=len(JPEG)) as c:
        assert post_face(c, JPEG).status_code == 200


def test_oversized_chunked_upload_without_content_length(make_client):
    def body():
        for _ in range(50):
            yield b"\xff\xd8\xff" + bytes(10_000)

    with make_client(face=FakeFace(), voice=FakeVoice(), max_image_bytes=100_000) as c:
        r = c.post("/v1/face", content=body(), headers={"content-type": "image/jpeg"})
        assert_error(r, 413, "upload_too_large")


def _asgi_post(app, path: str, chunks, content_type: bytes = b"image/jpeg", chunk_delay: float = 0.0):
    """Drive the ASGI app directly with a body arriving in ``chunks``; returns (messages, chunks read)."""
    import asyncio

    consumed = 0
    sent: list[dict] = []

    async def receive():
        nonlocal consumed
        if consumed < len(chunks):
            if consumed and chunk_delay:
                await asyncio.sleep(chunk_delay)
            consumed += 1
            return {"type": "http.request", "body": chunks[consumed - 1], "more_body": consumed < len(chunks)}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"content-type", content_type), (b"host", b"test")],
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}

    async def run():
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(run())
    return sent, consumed


def test_slow_upload_gets_408():
    from emorec.serve.app import create_app
    from emorec.serve.settings import ServeSettings

    app = create_app(ServeSettings(request_timeout=0.5), face=FakeFace(), voice=FakeVoice())
    start = time.perf_counter()
    sent, consumed = _asgi_post(app, "/v1/face", [JPEG[:1000], JPEG[1000:2000], JPEG[2000:]], chunk_delay=5)
    assert sent[0]["status"] == 408
    assert b"request_timeout" in sent[1]["body"]
    assert time.perf_counter() - start < 3


def test_size_limit_is_enforced_while_streaming():
    """The app stops reading the body once the limit is passed, it does not buffer it all first."""
    from emorec.serve.app import create_app
    from emorec.serve.settings import ServeSettings

    app = create_app(ServeSettings(max_image_bytes=50_000), face=FakeFace(), voice=FakeVoice())
    chunks = [b"\xff\xd8\xff" + bytes(10_000 - 3)] * 1000  # 10 MB offered, 10 KB at a time
    sent, consumed = _asgi_post(app, "/v1/face", chunks)
    assert sent[0]["status"] == 413
    assert consumed <= 6, f"read {consumed} chunks of 10 KB for a 50 KB limit"


def test_audio_upload_limit_is_separate(make_client):
    clip = wav_bytes(speech_like(2.0))  # 64 KB
    with make_client(face=FakeFace(), voice=FakeVoice(), max_image_bytes=10_000_000, max_audio_bytes=30_000) as c:
        assert_error(post_voice(c, clip), 413, "upload_too_large")
        assert post_face(c, JPEG).status_code == 200


def test_silent_audio_gives_a_result_with_a_reason(client):
    r = post_voice(client, wav_bytes(np.zeros(32000, np.float32)), name="silence.wav")
    assert r.status_code == 200
    body = r.json()
    assert body["label"] is None and "silent" in body["error"]


def test_too_long_audio(make_client, fake_voice):
    with make_client(face=FakeFace(), voice=fake_voice, max_audio_seconds=3.0) as c:
        body = assert_error(post_voice(c, wav_bytes(speech_like(4.0)), name="long.wav"), 413, "audio_too_long")
        assert "long.wav" in body["detail"] and "3 s" in body["detail"]
        assert post_voice(c, wav_bytes(speech_like(2.9))).status_code == 200
    assert fake_voice.calls == [(int(2.9 * 16000), 16000)]


def test_too_long_mp3_is_refused_while_decoding(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), max_audio_seconds=1.0) as c:
        assert_error(post_voice(c, wav_bytes(speech_like(3.0), fmt="MP3"), name="long.mp3"), 413, "audio_too_long")


def test_truncated_audio(client):
    wav = wav_bytes(speech_like(2.0))
    assert_error(post_voice(client, wav[: len(wav) // 2], name="cut.wav"), 422, "invalid_audio")
    flac = wav_bytes(speech_like(2.0), fmt="FLAC")
    assert_error(post_voice(client, flac[: len(flac) // 2], name="cut.flac"), 422, "invalid_audio")


def test_a_damaged_webm_gets_a_clear_one_line_message(client):
    # WebM/MP4/FLV/AVI uploads are decoded (their sound track, through PyAV); a broken one says so in one line.
    body = assert_error(post_voice(client, b"\x1aE\xdf\xa3" + bytes(200), name="rec.webm",
                                   declared="audio/webm"), 422, "invalid_audio")
    assert "rec.webm" in body["detail"] and "\n" not in body["detail"]


def test_video_upload_answers_with_its_sound_track(client):
    av = pytest.importorskip("av")
    import io

    x = speech_like(2.0)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=5)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(10):
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        for start in range(0, pcm.size, 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024].copy(), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in a.encode(frame):
                out.mux(packet)
        for stream in (a, vs):
            for packet in stream.encode(None):
                out.mux(packet)
    r = post_voice(client, buf.getvalue(), name="clip.mp4", declared="video/mp4")
    assert r.status_code == 200, r.text
    assert r.json()["label"] is not None


def test_hostile_filename_is_reduced_to_a_base_name(client):
    r = post_face(client, JPEG, name="C:\\Users\\me\\..\\../etc/passwd.jpg")
    assert r.status_code == 200
    assert r.json()["path"] == "passwd.jpg"


# ------------------------------------------------------------------ errors never leak internals


def test_unexpected_error_is_a_json_500_without_details(make_client):
    boom = FakeFace(fail=RuntimeError("secret at /srv/internal/path.py line 3"))
    with make_client(face=boom, voice=FakeVoice(), raise_server_exceptions=False) as c:
        r = post_face(c, JPEG)
        assert_error(r, 500, "internal_error")
        assert "secret" not in r.text and "Traceback" not in r.text


def test_input_error_from_the_recogniser_is_a_422(make_client):
    picky = FakeFace(fail=InputError("photo.jpg: image is only 8x8 pixels"))
    with make_client(face=picky, voice=FakeVoice()) as c:
        body = assert_error(post_face(c, JPEG), 422, "invalid_input")
        assert "8x8" in body["detail"]


def test_model_that_fails_to_load(make_client):
    def broken():
        raise ModelError("face model /x/face.onnx not found")

    with make_client(face=broken, voice=FakeVoice()) as c:
        assert c.get("/healthz").status_code == 200  # alive ...
        ready = c.get("/readyz")  # ... but not ready
        assert ready.status_code == 503 and ready.json()["models"]["face"] == "failed"
        assert "face" in ready.json()["detail"]
        assert_error(post_face(c, JPEG), 503, "model_unavailable")
        assert post_voice(c, wav_bytes(speech_like(1.0))).status_code == 200  # voice still served
        assert c.get("/v1/models").json()["models"][0]["status"] == "failed"


def test_disabled_task(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), tasks=("face",)) as c:
        assert c.get("/readyz").status_code == 200
        body = assert_error(post_voice(c, wav_bytes(speech_like(1.0))), 503, "model_unavailable")
        assert "not enabled" in body["detail"]
        assert [m["task"] for m in c.get("/v1/models").json()["models"]] == ["face"]


# ------------------------------------------------------------------ concurrency, queue, timeout


def test_concurrent_requests_run_in_parallel_threads(make_client):
    face = FakeFace(delay=0.05)
    with make_client(face=face, voice=FakeVoice(), threads=4, queue_size=32) as c:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda i: post_face(c, jpeg_bytes(seed=i), name=f"{i}.jpg"), range(24)))
    assert [r.status_code for r in responses] == [200] * 24
    assert sorted(r.json()["path"] for r in responses) == sorted(f"{i}.jpg" for i in range(24))
    assert face.calls == 24
    assert 2 <= face.max_active <= 4  # parallel, bounded by the thread count


def test_event_loop_stays_responsive_during_inference(make_client):
    gate = threading.Event()
    face = FakeFace(gate=gate)
    with make_client(face=face, voice=FakeVoice(), threads=1) as c:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post_face, c, JPEG)
            assert face.entered.wait(5)
            start = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            assert time.perf_counter() - start < 1.0
            gate.set()
            assert pending.result(10).status_code == 200


def test_full_queue_answers_503_with_retry_after(make_client):
    gate = threading.Event()
    face = FakeFace(gate=gate)
    with make_client(face=face, voice=FakeVoice(), threads=1, queue_size=1, retry_after=7) as c:
        pool_state = c.app_ref.state.runtime["pool"]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post_face, c, JPEG)
            assert face.entered.wait(5)
            second = pool.submit(post_face, c, JPEG)
            deadline = time.monotonic() + 5
            while pool_state.admitted < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pool_state.admitted == 2
            busy = post_face(c, JPEG)
            assert_error(busy, 503, "busy")
            assert busy.headers["retry-after"] == "7"
            assert c.get("/healthz").status_code == 200  # health is never queued
            gate.set()
            assert first.result(10).status_code == 200
            assert second.result(10).status_code == 200
        assert post_face(c, JPEG).status_code == 200  # capacity is given back
        assert pool_state.admitted == 0


def test_slow_inference_times_out_with_504(make_client):
    face = FakeFace(delay=1.5)
    with make_client(face=face, voice=FakeVoice(), request_timeout=0.3, threads=1) as c:
        start = time.perf_counter()
        assert_error(post_face(c, JPEG), 504, "timeout")
        assert time.perf_counter() - start < 1.4
        pool_state = c.app_ref.state.runtime["pool"]
        deadline = time.monotonic() + 5
        while pool_state.admitted and time.monotonic() < deadline:  # slot returns when the work ends
            time.sleep(0.05)
        assert pool_state.admitted == 0


# ------------------------------------------------------------------ hygiene


def test_uploads_leave_no_temporary_files(make_client, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    big = jpeg_bytes(2400, 1800, quality=100)  # a few MB: frameworks would spool this to disk
    assert len(big) > 1_500_000
    with make_client(face=FakeFace(), voice=FakeVoice()) as c:
        assert post_face(c, big).status_code == 200
        assert post_face(c, big[:-5000]).status_code == 422
        assert post_voice(c, wav_bytes(speech_like(30.0))).status_code == 200
        assert_error(post_face(c, b"not an image" * 1000), 415, "unsupported_type")
    assert list(spool.iterdir()) == []


def test_cors_is_off_by_default(client):
    r = client.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/v1/face", headers={"Origin": "https://evil.example",
                                              "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(make_client):
    with make_client(face=FakeFace(), voice=FakeVoice(), cors_origins=("https://app.example",)) as c:
        ok = c.get("/v1/models", headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = c.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_api_responses_are_not_sniffable(client):
    assert client.get("/v1/models").headers["x-content-type-options"] == "nosniff"
