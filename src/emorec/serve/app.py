"""The FastAPI application of ``emorec serve``: REST API under /v1 and the web page at /.

Example (in-process, with the packaged models):
    >>> from fastapi.testclient import TestClient           # doctest: +SKIP
    >>> with TestClient(create_app()) as client:             # doctest: +SKIP
    ...     client.post("/v1/face", files={"file": open("photo.jpg", "rb")}).json()
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from emorec import __version__
from emorec.errors import InputError
from emorec.face.pipeline import image_record
from emorec.voice.recognizer import VoiceResult
from emorec.serve.decode import decode_audio, decode_image
from emorec.serve.engines import Engine, InferencePool, default_face_factory, default_voice_factory
from emorec.serve.errors import ApiError, error_body, install_handlers
from emorec.serve.settings import ServeSettings
from emorec.serve.uploads import Pace, UploadGate, read_upload

log = logging.getLogger("emorec.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"

_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [{
        "name": "labels", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "Only these of the model's labels, comma-separated (e.g. happy,sad,angry,neutral): "
                       "scores over them, renormalised; an unknown label answers 422.",
    }],
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["error", "detail"],
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Empty upload, no file field or malformed form", 408: "Upload too slow",
            413: "Upload, image pixels or audio duration over the limit",
            415: "Content is not a supported image/audio type (decided from the bytes)",
            422: "Truncated or corrupt file, or a label the model lacks", 503: "Busy (see Retry-After) or model unavailable",
            504: "Processing exceeded the request timeout"}
    return {c: {"description": text.get(c, ""), "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
            for c in codes}


def create_app(settings: ServeSettings | None = None, face: Any = None, voice: Any = None) -> Any:
    """Build the application.

    ``face``/``voice``: a recogniser instance (shared by all threads), a zero-argument
    factory (called once per inference thread at start-up), or None for the packaged
    model (or ``settings.face_model``/``voice_model``). Tasks not in ``settings.tasks``
    are disabled.
    """
    settings = settings or ServeSettings()
    sources = {
        "face": face if face is not None else default_face_factory(
            settings.face_model, settings.max_image_pixels, detector=settings.face_detector,
            detector_model=settings.face_detector_model, detect_size=settings.face_detect_size),
        "voice": voice if voice is not None else default_voice_factory(settings.voice_model),
    }
    engines = {task: Engine(task, src, settings.threads) for task, src in sources.items()}
    for task, engine in engines.items():
        if task not in settings.tasks:
            engine.status = "disabled"
    state: dict[str, Any] = {"pool": None, "started": None,
                             "uploads": UploadGate(settings.max_uploads, settings.retry_after)}

    @asynccontextmanager
    async def lifespan(_app: Any):
        _limit_native_threads()
        state["pool"] = InferencePool(settings.threads, settings.queue_size, settings.retry_after)
        state["started"] = time.time()
        # Load off the event loop so /healthz answers while models load.
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, e.load)
                               for e in engines.values() if e.status == "pending"))
        for e in engines.values():
            log.info("%s model: %s%s", e.task, e.status, f" ({e.error})" if e.error else "")
        try:
            yield
        finally:
            state["pool"].shutdown()

    docs_files = _swagger_ui_dir()  # None: FastAPI's own CDN-backed pages stay in place
    app = FastAPI(
        title="emorec",
        version=__version__,
        description=(
            "Emotion recognition from face images and speech recordings. "
            "Upload a file as multipart field `file` (or as the raw request body). "
            "The file type is decided from its content. Errors are JSON "
            '`{"error": code, "detail": message}`.'
        ),
        lifespan=lifespan,
        docs_url=None if docs_files else "/docs",
        redoc_url=None if docs_files else "/redoc",
    )
    if docs_files is not None:
        _install_offline_docs(app, docs_files)
    app.state.settings = settings
    app.state.engines = engines
    app.state.runtime = state
    install_handlers(app)
    _install_middleware(app, settings)

    def pool() -> InferencePool:
        if state["pool"] is None:
            raise ApiError(503, "not_ready", "the server is starting; retry shortly",
                           headers={"Retry-After": "1"})
        return state["pool"]

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], summary="Readiness: all enabled models are loaded",
             responses={503: {"description": "Models loading or failed"}})
    async def readyz() -> Any:
        statuses = {t: e.status for t, e in engines.items()}
        enabled = [e for e in engines.values() if e.status != "disabled"]
        busy = _saturation(state)
        if state["pool"] is not None and enabled and all(e.status == "loaded" for e in enabled) and not busy:
            return {"status": "ready", "models": statuses}
        reasons = "; ".join(e.unavailable_reason() for e in enabled if e.status != "loaded") or busy
        return JSONResponse(
            error_body("not_ready", reasons or "the server is starting", models=statuses),
            status_code=503, headers={"Retry-After": "1"},
        )

    @app.get("/v1/models", tags=["models"], summary="The models this server runs, with their cards")
    async def models() -> dict[str, Any]:
        return {"models": [e.describe() for e in engines.values() if e.status != "disabled"]}

    @app.post("/v1/face", tags=["predict"], openapi_extra=_UPLOAD_DOC,
              responses=_errors(400, 408, 413, 415, 422, 503, 504),
              summary="Faces in an image: box [x, y, w, h], label, score, per-emotion scores")
    async def predict_face(request: Request) -> Any:
        engine = engines["face"]
        subset = _labels(request, engine)

        def work(name: str, data: bytes) -> dict[str, Any]:
            # Colour, as `emorec face predict` reads files: the detectors use colour (the model's crop is
            # made gray by the recogniser when its card says so).
            image = decode_image(name, data, settings.max_image_pixels, mode="bgr")
            del data
            with engine.borrow() as rec:
                faces = rec.predict(image)
            if subset:  # only when asked: an injected recogniser's results need not know subsets
                faces = [f.restricted(subset) for f in faces]
            # The record of `emorec face predict --format json` for one image, built by the same code.
            return image_record(name, faces)

        return await _handle(request, engine, settings.max_image_bytes, "image", work)

    @app.post("/v1/voice", tags=["predict"], openapi_extra=_UPLOAD_DOC,
              responses=_errors(400, 408, 413, 415, 422, 503, 504),
              summary="Emotion in a speech recording: overall label and a segment timeline")
    async def predict_voice(request: Request) -> Any:
        engine = engines["voice"]
        subset = _labels(request, engine)

        def work(name: str, data: bytes) -> dict[str, Any]:
            # Mono at 16 kHz (the voice models' rate), decoded in blocks: bombs stay small.
            audio = decode_audio(name, data, settings.max_audio_seconds, settings.max_audio_samples, target_rate=16000)
            del data
            with engine.borrow() as rec:
                try:
                    result = rec.predict(audio.samples, sample_rate=audio.sample_rate)
                    out = (result.restricted(subset) if subset else result).to_dict()
                except InputError as exc:
                    # The file decoded fine but holds nothing to analyse (e.g. silence): like
                    # "no speech detected", a result whose error says why, as the CLI reports it.
                    out = VoiceResult.failed(str(exc).replace("audio array", name, 1), name).to_dict()
            out["path"] = name
            return out

        return await _handle(request, engine, settings.max_audio_bytes, "audio", work)

    def _labels(request: Request, engine: Engine) -> Any:
        # ?labels=happy,sad,...: checked before the upload is read (a model still loading answers 503 later)
        wanted = request.query_params.get("labels")
        return engine.subset(wanted if engine.status == "loaded" else None)

    async def _handle(request: Request, engine: Engine, max_bytes: int, what: str, work: Any) -> Any:
        deadline = time.monotonic() + settings.request_timeout
        if engine.status != "loaded":
            raise ApiError(503, "model_unavailable", engine.unavailable_reason(),
                           headers={"Retry-After": str(settings.retry_after)})
        pool()  # 503 while starting
        # The upload holds an upload place, not a processing slot: slow clients cannot starve
        # the inference threads, and are cut off below the minimum rate.
        pace = Pace(deadline, settings.min_upload_rate, settings.upload_grace)
        with state["uploads"].enter():
            upload = await read_upload(request, max_bytes, what, pace)
        name, data = upload.filename, upload.data
        del upload
        ticket = pool().admit()
        try:
            return await ticket.run(lambda: work(name, data), deadline - time.monotonic())
        finally:
            ticket.close()

    @app.get("/", include_in_schema=False)
    async def index() -> Any:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _saturation(state: dict[str, Any]) -> str:
    """Why a load balancer should send new requests elsewhere now ("" when it need not)."""
    pool, uploads = state["pool"], state["uploads"]
    if pool is not None and pool.admitted >= pool.capacity:
        return f"saturated: all {pool.capacity} processing slots are taken"
    if uploads.full:
        return f"saturated: {uploads.limit} uploads are being received"
    return ""


def _swagger_ui_dir() -> Path | None:
    """Swagger UI 5 files (OpenAPI 3.1) shipped by the fastapi-offline package (a serve dependency)."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _root_path(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")  # the prefix when behind a path-prefixing proxy


def _install_offline_docs(app: Any, folder: Path) -> None:
    """/docs and /redoc from local files: FastAPI's defaults load their scripts from a CDN (blank offline)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    app.mount("/docs-static", StaticFiles(directory=folder), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Any:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} API",
            swagger_js_url=f"{root}/docs-static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-static/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-static/favicon.png",
        )

    if (folder / "redoc.standalone.js").is_file():
        @app.get("/redoc", include_in_schema=False)
        async def redoc(request: Request) -> Any:
            root = _root_path(request)
            return get_redoc_html(openapi_url=root + app.openapi_url, title=f"{app.title} API",
                                  redoc_js_url=f"{root}/docs-static/redoc.standalone.js",
                                  redoc_favicon_url=f"{root}/docs-static/favicon.png", with_google_fonts=False)


def create_app_from_env() -> Any:
    """Factory for uvicorn workers: settings from EMOREC_SERVE_* variables."""
    return create_app(ServeSettings.from_env())


# Pages of the web UI get a strict content security policy (the API docs page runs inline script).
_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
        "script-src 'self'; style-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'")


def _install_middleware(app: Any, settings: ServeSettings) -> None:
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600)
    app.add_middleware(_SecurityHeaders)
    if settings.allowed_hosts:  # added last: runs first, before anything else sees the request
        from emorec.serve.protocol import AllowedHosts

        app.add_middleware(AllowedHosts, hosts=settings.allowed_hosts)


class _SecurityHeaders:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware) adding defensive headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        page = path == "/" or path.startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if page:
                    headers.append((b"content-security-policy", _CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                    headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _limit_native_threads() -> None:
    # Parallelism comes from the request threads; OpenCV's own pool would oversubscribe the cores.
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # cv2 is optional for fakes in tests
        pass
