"""Connection-level hardening: JSON answers for requests rejected before the app sees them,
a deadline for slow request headers, and an allowed-hosts check.

uvicorn answers a malformed request (bad request line, oversized or broken headers)
and its own concurrency cap in plain text; :class:`JsonH11Protocol` (given to uvicorn
as ``http="emorec.serve.protocol:JsonH11Protocol"``) answers the same errors as the
rest of the API does, ``{"error": code, "detail": message}``, and closes connections
that have not sent a complete request head within ``header_timeout`` seconds
(EMOREC_SERVE_HEADER_TIMEOUT), so slow-header clients cannot pile up.
"""

from __future__ import annotations

import json
import os
from typing import Any

from emorec.serve.errors import error_body

HEADER_TIMEOUT_ENV = "EMOREC_SERVE_HEADER_TIMEOUT"


def _json(code: str, detail: str) -> bytes:
    return json.dumps(error_body(code, detail)).encode()


def _host_matches(host: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


class AllowedHosts:
    """Pure ASGI middleware: requests whose Host header is not in ``hosts`` get JSON 400.

    Patterns are exact host names, ``*.example.com`` (sub-domains) or ``*``. The port
    is ignored. Behind a proxy, list the public names the proxy forwards.
    """

    def __init__(self, app: Any, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = tuple(h.strip().lower() for h in hosts if h.strip())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or not self.hosts:
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").lower()
        host = raw.rsplit(":", 1)[0] if not raw.endswith("]") else raw  # drop the port, keep IPv6
        host = host.strip("[]")
        if any(_host_matches(host, p) for p in self.hosts):
            await self.app(scope, receive, send)
            return
        body = _json(
            "invalid_host", f"host {raw or '(none)'!r} is not served here; use one of: " + ", ".join(self.hosts)
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def json_service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """uvicorn's answer when its last-resort connection cap is exceeded, as JSON."""
    body = _json("busy", "the server has too many open connections; retry in a moment")
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"connection", b"close"),
                (b"retry-after", b"1"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _protocol_class() -> type:
    import h11
    from uvicorn.protocols.http import h11_impl

    # The module-level app uvicorn runs over its concurrency cap; only this server process
    # imports this module (it is named in uvicorn's ``http`` option).
    h11_impl.service_unavailable = json_service_unavailable

    class JsonH11Protocol(h11_impl.H11Protocol):
        """uvicorn's h11 protocol with JSON 400s and a deadline on the request head."""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_timer: Any = None
            self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            timeout = float(os.environ.get(HEADER_TIMEOUT_ENV, "") or 10)
            self._head_timer = self.loop.call_later(timeout, self._head_timeout)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            # No complete request head yet (a request in progress is paced by the app).
            if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
                self._send_json_error(408, "request_timeout", "the request headers took too long to arrive")

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:
                self._cancel_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():  # keep-alive: the next request head is timed too
                self._cancel_head_timer()
                self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._send_json_error(400, "bad_request", f"malformed HTTP request ({msg.rstrip('.').lower()})")

        def _send_json_error(self, status: int, code: str, detail: str) -> None:
            body = _json(code, detail)
            try:
                if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    headers = [
                        (b"content-type", b"application/json"),
                        (b"connection", b"close"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    reason = h11_impl.STATUS_PHRASES.get(status, b"")
                    self.transport.write(
                        self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
                    )
                    self.transport.write(self.conn.send(h11.Data(data=body)))
                    self.transport.write(self.conn.send(h11.EndOfMessage()))
            except h11.LocalProtocolError:
                pass  # the state machine refuses a response now: just close
            self.transport.close()

    return JsonH11Protocol


def __getattr__(name: str) -> Any:  # the class is built on first use: uvicorn stays an optional import
    if name == "JsonH11Protocol":
        cls = _protocol_class()
        globals()["JsonH11Protocol"] = cls
        return cls
    raise AttributeError(name)
