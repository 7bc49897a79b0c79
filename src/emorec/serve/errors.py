"""JSON errors ``{"error": code, "detail": message}`` for every failure, never a traceback."""
from __future__ import annotations

import logging
from typing import Any

from emorec.errors import EmorecError, InputError, ModelError

log = logging.getLogger("emorec.serve")

# Codes used for HTTP errors raised by the framework itself (routing, methods).
_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "upload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``headers`` e.g. Retry-After."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


def install_handlers(app: Any) -> None:
    """Register handlers so that all errors, expected or not, are JSON without internals."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):  # noqa: ANN001
        return JSONResponse(
            error_body(exc.code, exc.detail, **exc.extra), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):  # noqa: ANN001
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        return JSONResponse(error_body(code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):  # noqa: ANN001
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse(error_body("invalid_request", "; ".join(parts) or "invalid request"),
                            status_code=422)

    @app.exception_handler(InputError)
    async def _input_error(request, exc: InputError):  # noqa: ANN001
        return JSONResponse(error_body("invalid_input", str(exc)), status_code=422)

    @app.exception_handler(ModelError)
    async def _model_error(request, exc: ModelError):  # noqa: ANN001
        log.error("model error on %s: %s", request.url.path, exc)
        return JSONResponse(error_body("model_error", str(exc)), status_code=500)

    @app.exception_handler(EmorecError)
    async def _emorec_error(request, exc: EmorecError):  # noqa: ANN001
        return JSONResponse(error_body("invalid_input", str(exc)), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):  # noqa: ANN001
        # The traceback goes to the server log only; clients learn nothing about internals.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "unexpected server error; the server log has details"),
            status_code=500,
        )
