"""Qasid sending through an upstream provider in a seed dialect, proven with another Qasid as the
upstream: instance A's ``smsapi`` connector posts to instance B's ``/smsapi/send`` over real HTTP
(loopback), B delivers through its simulator, and B's delivery callbacks (a webhook endpoint in the
``smsapi`` format on B's account) come back to A's ``/webhooks/smsapi/{connector}`` and settle A's
messages. B runs on its own SQLite file, as a separate gateway would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from qasid.api.app import create_app
from qasid.billing.records import Price
from qasid.channels.base import ConnectorError, Outbound, PermanentError, TransientError
from qasid.channels.upstream.smsapi import SmsApiConfig, SmsApiConnector
from qasid.db import Database
from qasid.migrations import upgrade
from qasid.models import simulator_inbox
from qasid.optout import service as optout
from qasid.optout.records import ListKind
from qasid.routing import service as routing
from qasid.settings import Settings
from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer
from tests.integration.test_otp_channels import forwarder
from tests.receiver import HOOKS
from tests.support import Customer, Operator, running_simulator, vault, wait_for

CALLBACK_KEY = "upstream-callback-key"


@dataclass
class Upstream:
    http: AsyncClient
    db: Database
    customer: Customer  # Qasid A's account at B
    base_url: str  # B's address on loopback


@asynccontextmanager
async def upstream(settings: Settings, tmp_path: Path) -> AsyncIterator[Upstream]:
    """Qasid B, serving on loopback, with an account for A."""
    url = f"sqlite:///{tmp_path / 'upstream.db'}"
    upgrade(url)
    own = settings.model_copy(
        update={"database_url": url, "secret_key_file": tmp_path / "upstream-secret", **HOOKS}
    )
    db = Database.from_settings(own)
    app = create_app(own, role="serve")
    try:
        async with (
            LifespanManager(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://upstream.test") as http,
            forwarder(http) as door,
        ):
            await running_simulator(app, db)
            customer = Operator(db).customer(
                balance=10_000, price=15, senders_approved=("Qasid",), name="qasid-a"
            )
            yield Upstream(http, db, customer, door.base_url)
    finally:
        db.dispose()


async def add_connector(app, db: Database, kind: str, name: str, config: dict, channel: str = "sms") -> str:
    """A connector of A's with a route, once A's worker runs it; its id."""
    now = datetime.now(UTC)
    with db.write() as conn:
        record = routing.add_connector(conn, kind, name, config, now, vault=vault())
        routing.add_route(conn, record.id, now, channel=channel)
    await wait_for(lambda: record.id in app.state.services.worker.links.running)
    return record.id


async def add_upstream(app, db: Database, b: Upstream, name: str = "up") -> str:
    config = {"base_url": f"{b.base_url}/smsapi", "key": b.customer.key, "callback_key": CALLBACK_KEY}
    return await add_connector(app, db, "smsapi", name, config)


@asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[tuple[AsyncClient, Any, str]]:
    """Qasid A (``qasid serve``), its client, and its address on loopback for B's callbacks."""
    app = create_app(settings, role="serve")
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://qasid.test") as http,
        forwarder(http) as door,
    ):
        yield http, app, door.base_url


async def send_three(http: AsyncClient, customer: Customer) -> list[str]:
    """A message to each of the simulator's numbers that end delivered, undelivered and refused (at
    submit, by B's simulator); their ids, in that order."""
    numbers = ["+9647700000001", "+9647700000003", "+9647700000002"]
    body = {"to": numbers, "text": "Hello via B", "sender": "Qasid"}
    sent = await http.post("/v1/messages", json=body, headers=customer.headers)
    return [m["id"] for m in sent.json()["messages"]]


async def message(http: AsyncClient, customer: Customer, message_id: str) -> dict:
    return dict((await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json())


async def test_one_qasid_delivers_through_anothers_smsapi_dialect(
    fast_settings, operator: Operator, db, tmp_path
):
    settings = fast_settings.model_copy(update=HOOKS)
    async with upstream(settings, tmp_path) as b, gateway(settings) as (http, app, door):
        made = await b.http.post(
            "/v1/webhooks",
            json={
                "url": f"{door}/webhooks/smsapi/up",
                "format": "smsapi",
                "secret": CALLBACK_KEY,
            },
            headers=b.customer.headers,
        )
        assert made.status_code == 201, made.text
        await add_upstream(app, db, b)
        customer = operator.customer(balance=1_000, price=20)
        ids = await send_three(http, customer)

        async def ended() -> list[dict] | None:
            found = [await message(http, customer, i) for i in ids]
            return (
                found if all(m["status"] in ("delivered", "undelivered", "rejected") for m in found) else None
            )

        delivered, undelivered, refused = await wait_for(ended, within=20)
        at_b = (await b.http.get("/v1/messages", headers=b.customer.headers)).json()["data"]
    assert (delivered["status"], undelivered["status"], refused["status"]) == (
        "delivered",
        "undelivered",
        "rejected",
    )
    assert sorted((m["to"], m["text"], m["sender"]) for m in at_b) == [
        ("+9647700000001", "Hello via B", "Qasid"), ("+9647700000002", "Hello via B", "Qasid"),
        ("+9647700000003", "Hello via B", "Qasid"),
    ]  # fmt: skip
    assert operator.account(customer.account.id).balance == 1_000 - 40  # the rejected one refunded


async def test_one_qasid_delivers_through_anothers_standingtech_dialect_asking_after_each(
    fast_settings, operator: Operator, db, tmp_path
):
    """v3 has no callbacks: A asks B after each message. It starts asking only once its setting
    changes, which restarts the connector with nothing in memory: what it asks after comes from the
    database, as after a crash."""
    settings = fast_settings.model_copy(update=HOOKS)
    async with upstream(settings, tmp_path) as b, gateway(settings) as (http, app, _door):
        config = {"base_url": f"{b.base_url}/standingtech", "key": b.customer.key, "poll_seconds": 3600}
        await add_connector(app, db, "standingtech", "bulk", config)
        customer = operator.customer(balance=1_000, price=20)
        ids = await send_three(http, customer)

        async def statuses() -> list[str]:
            return [(await message(http, customer, i))["status"] for i in ids]

        await wait_for(lambda: _all_sent(statuses))
        with db.write() as conn:  # ask now: the running gateway restarts the connector
            routing.configure_connector(conn, "bulk", {"poll_seconds": 0.1}, datetime.now(UTC), vault=vault())

        async def ended() -> list[str] | None:
            found = await statuses()
            return found if "sent" not in found else None

        final = await wait_for(ended, within=20)
    assert final == ["delivered", "undelivered", "rejected"]
    assert operator.account(customer.account.id).balance == 1_000 - 40  # the rejected one refunded


async def _all_sent(statuses) -> bool:
    return all(status == "sent" for status in await statuses())


async def test_the_callback_needs_the_connectors_key(fast_settings, operator: Operator, db, tmp_path):
    settings = fast_settings.model_copy(update=HOOKS)
    async with upstream(settings, tmp_path) as b, gateway(settings) as (http, app, _door):
        await add_upstream(app, db, b)
        forged = await http.get("/webhooks/smsapi/up", params={"key": "guess", "smsID": "x", "statusID": "1"})
        unknown = await http.get(
            "/webhooks/smsapi/nope", params={"key": CALLBACK_KEY, "smsID": "x", "statusID": "1"}
        )
        malformed = await http.get("/webhooks/smsapi/up", params={"key": CALLBACK_KEY, "statusID": "9"})
        with db.write() as conn:
            config = {"base_url": "http://127.0.0.1:9/otpiq/api", "key": "k", "callback_url": "http://x/cb",
                      "callback_secret": "otpiq-report-secret-24-chars"}  # fmt: skip
            routing.add_connector(conn, "otpiq", "oq", config, datetime.now(UTC), vault=vault())
        body = b'{"type": "message.status", "data": {"verification_id": "ver_x", "status": "delivered"}}'
        unsigned = await http.post("/webhooks/otpiq/oq", content=body)
    assert [forged.status_code, unknown.status_code, malformed.status_code] == [403, 404, 400]
    assert unsigned.status_code == 401


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, PermanentError), (422, PermanentError), (402, TransientError), (503, TransientError)],
)
async def test_the_upstreams_refusals_are_permanent_or_transient(status, kind):
    """Against a stand-in that answers every call with one status: a refused key or request fails
    the message; no credit there, or its trouble, is retried (and tried on the next route)."""

    async def answer(_request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            status, b'{"status": "error", "code": "refused", "message": "no"}', "application/json"
        )

    async with LocalHttpServer(answer) as server:
        config = SmsApiConfig(base_url=server.base_url, key="k", callback_key="callback-key")
        connector = SmsApiConnector("con_1", "up", config)
        await connector.start()
        out = Outbound("msg_1", "acc_1", "+9647700000001", "Qasid", "hi", "gsm7", ("hi",), datetime.now(UTC))
        try:
            with pytest.raises(ConnectorError) as raised:
                await connector.submit(out)
        finally:
            await connector.stop()
    assert type(raised.value) is kind


async def test_one_qasid_sends_codes_through_anothers_otpiq_dialect(
    fast_settings, operator: Operator, db, tmp_path
):
    """A's WhatsApp channel goes through B's /otpiq (which sends by SMS here); B's signed delivery
    report comes back to A's /webhooks/otpiq/{connector} and settles A's send; the code B sent is
    the one A checks."""
    settings = fast_settings.model_copy(update=HOOKS)
    secret = "otpiq-report-secret-24-chars"
    async with upstream(settings, tmp_path) as b, gateway(settings) as (http, app, door):
        config = {
            "base_url": f"{b.base_url}/otpiq/api", "key": b.customer.key, "provider": "sms",
            "callback_url": f"{door}/webhooks/otpiq/oq", "callback_secret": secret,
        }  # fmt: skip
        await add_connector(app, db, "otpiq", "oq", config, channel="whatsapp")
        customer = operator.customer(balance=1_000, price=20)
        operator.set_price(Price(customer.account.id, "*", "*", "whatsapp", "IQD", 30))
        wanted = {"to": "+9647700000001", "sender": "Qasid", "channels": ["whatsapp"]}
        made = await http.post("/v1/verifications", json=wanted, headers=customer.headers)
        assert made.status_code == 201, made.text
        verification = made.json()["id"]

        async def delivered() -> dict | None:
            found = (await http.get(f"/v1/verifications/{verification}", headers=customer.headers)).json()
            return found if found["send_history"][0]["status"] == "delivered" else None

        await wait_for(delivered, within=20)
        with b.db.read() as conn:  # what reached the phone, through B's simulator
            [(to, text)] = conn.execute(select(simulator_inbox.c.recipient, simulator_inbox.c.body)).all()
        [code] = re.findall(r"\b(\d{6})\b", text)
        checked = await http.post(
            f"/v1/verifications/{verification}/check", json={"code": code}, headers=customer.headers
        )
    assert checked.json()["status"] == "approved"
    assert to == "+9647700000001"


async def test_one_qasid_sends_through_anothers_fullsms_dialect_without_reports(
    fast_settings, operator: Operator, db, tmp_path
):
    """FullSMS reports nothing back: the message reaches the phone through B and stays sent at A.
    A number B refuses fails at A."""
    settings = fast_settings.model_copy(update=HOOKS)
    async with upstream(settings, tmp_path) as b, gateway(settings) as (http, app, _door):
        await add_connector(
            app, db, "fullsms", "full", {"base_url": f"{b.base_url}/fullsms", "key": b.customer.key}
        )
        customer = operator.customer(balance=1_000, price=20)
        with b.db.write() as conn:  # B's account has this number on its stop-list
            optout.add(conn, b.customer.account.id, "+9647700000003", ListKind.STOP, datetime.now(UTC),
                       source="api", note=None)  # fmt: skip
        one = {"to": ["+9647700000001", "+9647700000003"], "text": "Hi", "sender": "Qasid"}
        sent = await http.post("/v1/messages", json=one, headers=customer.headers)
        message_id, refused_id = (m["id"] for m in sent.json()["messages"])
        refused = await wait_for(lambda: _status_is(http, customer, refused_id, "failed"), within=20)
        shown = await wait_for(lambda: _status_is(http, customer, message_id, "sent"), within=20)

        def reached() -> list[str]:
            with b.db.read() as conn:
                return list(conn.execute(select(simulator_inbox.c.recipient)).scalars())

        phones = await wait_for(reached, within=20)
    assert phones == ["+9647700000001"]
    assert shown["status"] == "sent"
    assert refused["error_code"] == "HTTP_422"  # B: "Given number is invalid or could not receive messages"


async def _status_is(http: AsyncClient, customer: Customer, message_id: str, status: str) -> dict | None:
    found = await message(http, customer, message_id)
    return found if found["status"] == status else None
