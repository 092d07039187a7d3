"""Webhooks never reach loopback, private, link-local or metadata addresses unless the operator allows
a network: refused when the URL is given, after DNS resolution, and on every redirect."""

from __future__ import annotations

import socket

import anyio
import pytest
from sqlalchemy import func, select

from qasid.models import batches, webhook_endpoints
from tests.httpserver import HttpRequest, HttpResponse
from tests.receiver import Receiver, deliveries, endpoint, final_state_delivery, only_delivery, running, send
from tests.support import Operator, running_simulator, wait_for

DELIVERS = "+9647700000001"
FORBIDDEN = [
    "http://127.0.0.1:9/hooks",
    "http://localhost/hooks",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://10.0.0.8/hooks",
    "http://192.168.0.10/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hooks",
    "http://100.64.0.1/hooks",
]


def rows(db, table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class TestRefusedWhenGiven:
    @pytest.mark.parametrize("url", FORBIDDEN)
    async def test_an_endpoint_to_a_non_public_address_is_refused_and_nothing_is_written(
        self, client, operator: Operator, db, url: str
    ):
        customer = operator.customer()
        response = await client.post("/v1/webhooks", json={"url": url}, headers=customer.headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "url"
        assert rows(db, webhook_endpoints) == 0

    async def test_a_send_whose_callback_is_a_private_address_is_refused_and_not_charged(
        self, client, operator: Operator, db
    ):
        customer = operator.customer(balance=1000)
        response = await client.post(
            "/v1/messages",
            json={"to": DELIVERS, "text": "hi", "sender": "Qasid", "callback": {"url": FORBIDDEN[6]}},
            headers=customer.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "callback.url"
        assert rows(db, batches) == 0
        assert operator.account(customer.account.id).balance == 1000


class TestRefusedWhenResolved:
    async def test_a_name_that_resolves_to_a_private_address_is_refused_without_a_connection(
        self, fast_settings, operator: Operator, db, monkeypatch: pytest.MonkeyPatch
    ):
        resolved: list[str] = []
        real = anyio.getaddrinfo

        async def fake(host, port, **kwargs):
            resolved.append(host)
            if host == "hooks.customer.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
            return await real(host, port, **kwargs)

        monkeypatch.setattr(anyio, "getaddrinfo", fake)
        async with running(fast_settings, webhook_allowed_networks="") as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, "http://hooks.customer.example/x", statuses="final")
            await send(http, customer, DELIVERS)
            await wait_for(lambda: deliveries(db, "failed") == 1)
            detail = await only_delivery(http, customer)
        assert resolved == ["hooks.customer.example"]
        assert [t["error"] for t in detail["tries"]] == [
            "refused: hooks.customer.example resolves to 10.0.0.7; "
            "10.0.0.7 is a private address, which webhooks may not reach"
        ]


class TestRedirects:
    async def test_a_redirect_to_an_address_outside_the_allowed_network_is_not_followed(
        self, fast_settings, operator: Operator, db
    ):
        async with Receiver(host="127.0.0.2") as inside, Receiver() as receiver:

            async def redirect(_request: HttpRequest) -> HttpResponse:
                return HttpResponse(307, headers={"Location": inside.url})

            receiver.answer = redirect
            detail = await final_state_delivery(
                fast_settings,
                operator,
                db,
                receiver.url,
                ended="failed",
                webhook_allowed_networks="127.0.0.1/32",
            )
            assert len(receiver.calls) == 1
            assert inside.calls == []
            assert detail["tries"][0]["error"] == (
                "refused: 127.0.0.2 is a loopback address, which webhooks may not reach"
            )

    async def test_a_redirect_within_the_allowed_network_is_followed(
        self, fast_settings, operator: Operator, db
    ):
        async with Receiver(host="127.0.0.2") as inside, Receiver() as receiver:

            async def redirect(_request: HttpRequest) -> HttpResponse:
                return HttpResponse(307, headers={"Location": inside.url})

            receiver.answer = redirect
            async with running(fast_settings, webhook_allowed_networks="127.0.0.0/8") as (http, app):
                await running_simulator(app, db)
                customer = operator.customer()
                await endpoint(http, customer, receiver.url, statuses="final")
                await send(http, customer, DELIVERS)
                await wait_for(lambda: deliveries(db, "delivered") == 1)
            assert len(inside.calls) == 1
            assert inside.calls[0].headers["webhook-id"] == receiver.calls[0].headers["webhook-id"]
