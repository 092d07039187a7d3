"""A customer's webhook receiver on loopback, for tests: records every call and answers as told."""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from standardwebhooks import Webhook

from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer

Answer = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def ok(_request: HttpRequest) -> HttpResponse:
    return HttpResponse(204)


class Receiver:
    """``async with Receiver() as r``: ``r.url`` takes webhooks; ``r.calls`` is every request it got,
    ``r.answer`` decides what each gets (204 by default)."""

    def __init__(self, *, path: str = "/hooks", tls: ssl.SSLContext | None = None) -> None:
        self.path = path
        self.calls: list[HttpRequest] = []
        self.answer: Answer = ok
        self.server = LocalHttpServer(self._handle, tls=tls)

    @property
    def url(self) -> str:
        return self.server.base_url + self.path

    async def __aenter__(self) -> Receiver:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(*exc)

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        self.calls.append(request)
        return await self.answer(request)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(call.body) for call in self.calls]

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """The events received, each once (a repeat has the webhook-id of the first)."""
        seen: dict[str, dict[str, Any]] = {}
        for call in self.calls:
            body = json.loads(call.body)
            if type_ is None or body["type"] == type_:
                seen.setdefault(call.headers["webhook-id"], body)
        return list(seen.values())


def verified(secret: str, call: HttpRequest) -> dict[str, Any]:
    """The body of ``call`` if its Standard Webhooks signature is right for ``secret``; raises if not."""
    body: dict[str, Any] = Webhook(secret).verify(call.body, call.headers)
    return body
