"""Request ids: every response carries ``X-Request-ID`` (the caller's, when it sent a sane one), and
every log line written while handling the request has ``request_id``; the id is kept on the batch a
send creates, so the dispatcher's log lines for its messages carry it too."""

from __future__ import annotations

import re

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from qasid.domain.ids import random_hex

_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str | None:
    found: str | None = scope.get("state", {}).get("request_id")
    return found


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == HEADER:
                raw = value if _SANE.fullmatch(value) else None
                break
        if raw is None:
            raw = b"req_" + random_hex(16).encode()
        request_id = raw.decode()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, raw)]
            await send(message)

        # bind and reset by token: structlog's bound_contextvars reads the whole context first
        # (3.4 µs a request against 0.9)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
