"""A customer's webhook receiver on loopback, for tests: records every call and answers as told; and
the gateway as the webhook tests run it."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from litestar import Litestar
from sqlalchemy import func, select
from standardwebhooks import Webhook

from qasid.api.app import create_app
from qasid.db import Database
from qasid.models import messages, webhook_attempts, webhook_deliveries
from qasid.settings import Settings
from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer
from tests.support import Customer, Operator, running_simulator, wait_for

Answer = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def ok(_request: HttpRequest) -> HttpResponse:
    return HttpResponse(204)


class Receiver:
    """``async with Receiver() as r``: ``r.url`` takes webhooks; ``r.calls`` is every request it got,
    ``r.answer`` decides what each gets (204 by default)."""

    def __init__(
        self,
        *,
        path: str = "/hooks",
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.path = path
        self.calls: list[HttpRequest] = []
        self.answer: Answer = ok
        self.server = LocalHttpServer(self._handle, tls=tls, host=host, port=port)

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


# The gateway as the webhook tests run it, and what they read back.

HOOKS = {
    "webhook_allowed_networks": "127.0.0.1/32",  # the receivers of the tests live on loopback
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_cap_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
}
Gateway = tuple[httpx.AsyncClient, Litestar]
DELIVERED_NUMBER = "+9647700000001"  # the simulator delivers it


@asynccontextmanager
async def running(settings: Settings, **overrides: object) -> AsyncIterator[Gateway]:
    """``qasid serve`` in process, with ``HOOKS`` and ``overrides`` on top of ``settings``."""
    app = create_app(settings.model_copy(update={**HOOKS, **overrides}), role="serve")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qasid.test") as http,
    ):
        yield http, app


async def endpoint(http: httpx.AsyncClient, customer: Customer, url: str, **extra: object) -> dict[str, Any]:
    response = await http.post("/v1/webhooks", json={"url": url, **extra}, headers=customer.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send(http: httpx.AsyncClient, customer: Customer, to: str, **extra: object) -> str:
    """One message; its id."""
    response = await http.post(
        "/v1/messages",
        json={"to": to, "text": "Your code is 4821", "sender": "Qasid", **extra},
        headers=customer.headers,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["messages"][0]["id"])


async def final_state_delivery(
    settings: Settings,
    operator: Operator,
    db: Database,
    url: str,
    *,
    ended: str = "delivered",
    **overrides: object,
) -> dict[str, Any]:
    """A gateway whose customer has ``url`` hear of final states sends one message that is
    delivered; its webhook delivery, with its tries, once that has ``ended``."""
    async with running(settings, **overrides) as (http, app):
        await running_simulator(app, db)
        customer = operator.customer()
        await endpoint(http, customer, url, statuses="final")
        await send(http, customer, DELIVERED_NUMBER)
        await wait_for(lambda: deliveries(db, ended) == 1)
        return await only_delivery(http, customer)


async def only_delivery(http: httpx.AsyncClient, customer: Customer) -> dict[str, Any]:
    """The account's one webhook delivery, with its tries."""
    page = (await http.get("/v1/webhooks/deliveries", headers=customer.headers)).json()
    (delivery,) = page["data"]
    response = await http.get(f"/v1/webhooks/deliveries/{delivery['id']}", headers=customer.headers)
    return dict(response.json())


def deliveries(db: Database, status: str) -> int:
    with db.read() as conn:
        query = select(func.count()).where(webhook_deliveries.c.status == status)
        return int(conn.execute(query).scalar_one())


def tries(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_attempts)).scalar_one())


def message_status(db: Database, message_id: str) -> str:
    with db.read() as conn:
        return str(conn.execute(select(messages.c.status).where(messages.c.id == message_id)).scalar_one())
