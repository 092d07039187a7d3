"""The fast lane: a send, a verification's create and its check answered without Litestar's
routing and handler machinery.

A one-time code is two requests, a message sent one at a time one, and at a thousand a second
Litestar's per-request work (route resolution, the handler's signature model, the response object
and its conversion, the await chain through its layers) cost more of the interpreter than the
handlers themselves; with one process the interpreter is the limit (docs/performance.md,
"Verifications"). So ``QasidApp`` answers exactly ``POST /v1/messages``, ``POST
/v1/verifications`` and ``POST /v1/verifications/{id}/check`` here, and passes every other
request, those paths with a trailing slash included, to Litestar.

Nothing else changes for the caller: the same request id handling (``RequestIdMiddleware``), the
same key check before the body is read, the same body size limit, the same functions behind both
lanes (``qasid.api.v1.messages.accept``, ``qasid.api.v1.verifications.create`` and ``check``),
the same JSON, and errors rendered by the exception handlers the Litestar app was given. The
Litestar handlers stay registered: they are what the OpenAPI schema documents, and they answer
when the fast lane is off (``create_app(fast_lane=False)``); a test holds both lanes to the same
answers.
"""

from __future__ import annotations

import time
from typing import Any, cast

from litestar import Litestar, Request
from litestar.serialization import encode_json
from litestar.types import ASGIApp, ExceptionHandlersMap, HTTPScope, Receive, Scope, Send

from qasid.api.deps import caller_of, receive_body, scope_header
from qasid.api.middleware import RequestIdMiddleware, request_id_of
from qasid.api.v1 import messages, verifications
from qasid.runtime import Runtime

_SEND = "/v1/messages"
_CREATE = "/v1/verifications"
_CHECK_HEAD, _CHECK_TAIL = "/v1/verifications/", "/check"
_JSON = (b"content-type", b"application/json")
_REPLAYED = (b"idempotent-replayed", b"true")


def hot_route(method: str, path: str) -> tuple[str, str] | None:
    """("send", ""), ("create", "") or ("check", verification id) for the fast lane's routes, else
    None."""
    if method != "POST":
        return None
    if path == _SEND:
        return "send", ""
    if path == _CREATE:
        return "create", ""
    if path.startswith(_CHECK_HEAD) and path.endswith(_CHECK_TAIL):
        verification_id = path[len(_CHECK_HEAD) : -len(_CHECK_TAIL)]
        if verification_id and "/" not in verification_id:
            return "check", verification_id
    return None


class FastLane:
    """The ASGI app behind ``QasidApp`` for the fast lane's routes (``hot_route``)."""

    def __init__(self, app: Litestar, handlers: ExceptionHandlersMap, max_body: int) -> None:
        self.app = app
        self.handlers = handlers
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = hot_route(cast("HTTPScope", scope)["method"], scope["path"])
        if route is None:  # QasidApp sends only the fast lane's routes here
            raise LookupError(scope["path"])
        kind, verification_id = route
        runtime: Runtime = self.app.state.services
        started = time.perf_counter()
        headers = [_JSON]
        try:
            caller = await caller_of(runtime, scope)
            raw = await receive_body(receive, scope_header(scope, b"content-length"), self.max_body)
            if raw is None:
                return  # the client left before its body ended: no one to answer
            if kind == "send":
                key, request_id = scope_header(scope, b"idempotency-key"), request_id_of(scope)
                status, body, replayed = await messages.accept(
                    runtime, caller, raw, key, request_id=request_id, started=started
                )
                if replayed:
                    headers.append(_REPLAYED)
            elif kind == "create":
                status, body = 201, encode_json(await verifications.create(runtime, caller, raw))
            else:
                result = await verifications.check(runtime, caller, raw, verification_id)
                status, body = 200, encode_json(result)
        except Exception as exc:  # noqa: BLE001 - rendered by the app's own handler, as Litestar does
            await self._error(scope, receive, send, exc)
            return
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """The answer Litestar's exception middleware gives: the handler of the nearest class."""
        handler = next((self.handlers[cls] for cls in type(exc).__mro__ if cls in self.handlers), None)
        if handler is None:
            raise exc
        request: Request[Any, Any, Any] = Request(scope, receive, send)
        response = handler(request, exc)
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)


class QasidApp(Litestar):
    """The Litestar app, with the fast lane in front of it when ``use_fast_lane`` was called."""

    fast_lane: ASGIApp | None = None

    def use_fast_lane(self, handlers: ExceptionHandlersMap, max_body: int) -> None:
        self.fast_lane = RequestIdMiddleware(FastLane(self, handlers, max_body))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            self.fast_lane is not None
            and scope["type"] == "http"
            and hot_route(scope["method"], scope["path"]) is not None
        ):
            scope["app"] = scope["litestar_app"] = self  # as Litestar.__call__ sets them
            scope.setdefault("state", {})
            await self.fast_lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
