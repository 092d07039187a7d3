"""Webhooks to customers: endpoints, signed deliveries of message and verification events, retries,
and a request's own callback. A real HTTP receiver on loopback stands in for the customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar
from sqlalchemy import func, select

from qasid.api.app import create_app
from qasid.models import messages, webhook_deliveries
from qasid.settings import Settings
from tests.httpserver import HttpRequest, HttpResponse
from tests.receiver import Receiver, verified
from tests.support import Customer, Operator, running_simulator, wait_for

DELIVERS, REFUSED, UNDELIVERED = "+9647700000001", "+9647700000002", "+9647700000003"
HOOKS = {
    "webhook_allowed_networks": "127.0.0.1/32",  # the receivers of these tests live on loopback
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_cap_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
}


Gateway = tuple[httpx.AsyncClient, Litestar]


@asynccontextmanager
async def running(settings: Settings, **overrides: object) -> AsyncIterator[Gateway]:
    app = create_app(settings.model_copy(update={**HOOKS, **overrides}), role="serve")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qasid.test") as http,
    ):
        yield http, app


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as found:
        yield found


async def endpoint(http: httpx.AsyncClient, customer: Customer, url: str, **extra: object) -> dict:
    response = await http.post("/v1/webhooks", json={"url": url, **extra}, headers=customer.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def send(http: httpx.AsyncClient, customer: Customer, to: str, **extra: object) -> str:
    response = await http.post(
        "/v1/messages",
        json={"to": to, "text": "Your code is 4821", "sender": "Qasid", **extra},
        headers=customer.headers,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["messages"][0]["id"])


class TestMessageStatus:
    async def test_every_state_change_reaches_the_endpoint_signed_and_in_order(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            created = await endpoint(http, customer, receiver.url, events=["message.status"])
            message_id = await send(http, customer, DELIVERS, client_ref="order-7")
            await wait_for(lambda: len(receiver.calls) >= 2)
        bodies = [verified(created["secret"], call) for call in receiver.calls]
        assert [(b["type"], b["data"]["status"]) for b in bodies] == [
            ("message.status", "sent"),
            ("message.status", "delivered"),
        ]
        sent, delivered = (b["data"] for b in bodies)
        assert sent["id"] == delivered["id"] == message_id
        assert delivered["client_ref"] == "order-7"
        assert delivered["to"] == DELIVERS
        assert sent["sequence"] < delivered["sequence"]
        ids = [call.headers["webhook-id"] for call in receiver.calls]
        assert len(set(ids)) == 2
        assert all(i.startswith("evt_") for i in ids)

    async def test_a_final_only_endpoint_gets_just_the_final_state(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, UNDELIVERED)
            await wait_for(lambda: receiver.calls)
            await wait_for(lambda: _delivered_count(db) >= 1)
        assert [(b["data"]["status"], b["data"]["error_code"]) for b in receiver.bodies()] == [
            ("undelivered", "001")
        ]

    async def test_another_accounts_endpoint_hears_nothing(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            listening, sending = operator.customer(name="a"), operator.customer(name="b")
            await endpoint(http, listening, receiver.url)
            message_id = await send(http, sending, DELIVERS)
            await wait_for(lambda: _status(db, message_id) == "delivered")
        assert receiver.calls == []


class TestRetries:
    async def test_a_failing_receiver_gets_the_same_event_again_until_it_answers_2xx(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        answers = iter([500, 503, 200])

        async def flaky(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(next(answers), b"try later" * 300)

        receiver.answer = flaky
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, DELIVERS)
            await wait_for(lambda: len(receiver.calls) == 3)
            page = (await http.get("/v1/webhooks/deliveries", headers=customer.headers)).json()
            await wait_for(lambda: _delivered_count(db) == 1)
            detail = (
                await http.get(f"/v1/webhooks/deliveries/{page['data'][0]['id']}", headers=customer.headers)
            ).json()
        assert len({call.headers["webhook-id"] for call in receiver.calls}) == 1
        assert len({call.body for call in receiver.calls}) == 1
        assert detail["status"] == "delivered"
        assert [t["status_code"] for t in detail["tries"]] == [500, 503, 200]
        assert len(detail["tries"][0]["response"]) == 1024
        assert all(t["latency_ms"] >= 0 for t in detail["tries"])


def _status(db, message_id: str) -> str:
    with db.read() as conn:
        return str(conn.execute(select(messages.c.status).where(messages.c.id == message_id)).scalar_one())


def _delivered_count(db) -> int:
    with db.read() as conn:
        query = select(func.count()).where(webhook_deliveries.c.status == "delivered")
        return int(conn.execute(query).scalar_one())
