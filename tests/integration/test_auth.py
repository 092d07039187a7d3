"""Authentication and the wall between accounts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import update

from qasid.accounts import service as accounts
from qasid.api.app import create_app
from qasid.models import api_keys
from tests.support import Operator

SEND = {"to": "+9647701234567", "text": "hi", "sender": "Qasid"}


async def problem_code(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code, response.json()["code"]


class TestApiKeys:
    async def test_a_request_without_a_key_is_refused(self, client):
        response = await client.get("/v1/account")
        assert await problem_code(response) == (401, "missing_api_key")
        assert response.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "qsk_x"])
    async def test_a_header_without_a_bearer_key_is_missing_a_key(self, client, header):
        response = await client.get("/v1/account", headers={"Authorization": header})
        assert await problem_code(response) == (401, "missing_api_key")

    async def test_an_unknown_key_is_invalid(self, client, operator: Operator):
        customer = operator.customer()
        forged = customer.key[:-4] + ("AAAA" if not customer.key.endswith("AAAA") else "BBBB")
        response = await client.get("/v1/account", headers={"Authorization": f"Bearer {forged}"})
        assert await problem_code(response) == (401, "invalid_api_key")

    async def test_a_key_of_the_wrong_shape_is_invalid(self, client):
        response = await client.get(
            "/v1/account", headers={"Authorization": "Bearer 49|LNFe8WJ7CPtvl2mzowAB4ll4"}
        )
        assert await problem_code(response) == (401, "invalid_api_key")

    async def test_a_revoked_key_is_refused(self, client, operator: Operator, db):
        customer = operator.customer()
        assert (await client.get("/v1/account", headers=customer.headers)).status_code == 200
        with db.write() as conn:
            accounts.revoke_key(conn, accounts.key_prefix(customer.key), datetime.now(UTC))
        response = await client.post("/v1/messages", json=SEND, headers=customer.headers)
        assert await problem_code(response) == (401, "revoked_api_key")

    async def test_an_expired_key_is_refused(self, client, operator: Operator, db):
        customer = operator.customer()
        with db.write() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.prefix == accounts.key_prefix(customer.key))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        response = await client.get("/v1/account", headers=customer.headers)
        assert await problem_code(response) == (401, "expired_api_key")

    async def test_a_suspended_accounts_key_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        operator.suspend(customer.account.id)
        response = await client.post("/v1/messages", json=SEND, headers=customer.headers)
        assert await problem_code(response) == (403, "account_suspended")
        assert operator.account(customer.account.id).balance == 100_000

    async def test_the_stored_key_is_a_hash_not_the_key(self, operator: Operator, db):
        customer = operator.customer()
        with db.read() as conn:
            rows = conn.execute(api_keys.select()).mappings().all()
        assert all(customer.key not in str(dict(row).values()) for row in rows)
        assert rows[0]["prefix"] in customer.key


class TestAccountWall:
    async def test_another_accounts_message_is_not_found(self, client, operator: Operator):
        alice, mallory = operator.customer(name="alice"), operator.customer(name="mallory")
        sent = (await client.post("/v1/messages", json=SEND, headers=alice.headers)).json()
        message_id = sent["messages"][0]["id"]
        stolen = await client.get(f"/v1/messages/{message_id}", headers=mallory.headers)
        assert await problem_code(stolen) == (404, "not_found")
        canceled = await client.post(f"/v1/messages/{message_id}/cancel", headers=mallory.headers)
        assert await problem_code(canceled) == (404, "not_found")

    async def test_a_list_shows_only_the_callers_messages(self, client, operator: Operator):
        alice, bob = operator.customer(name="alice"), operator.customer(name="bob")
        await client.post("/v1/messages", json=SEND, headers=alice.headers)
        page = (await client.get("/v1/messages", headers=bob.headers)).json()
        assert page == {"data": [], "next_cursor": None}

    async def test_a_batch_filter_does_not_reach_into_another_account(self, client, operator: Operator):
        alice, bob = operator.customer(name="alice"), operator.customer(name="bob")
        sent = (await client.post("/v1/messages", json=SEND, headers=alice.headers)).json()
        page = (await client.get(f"/v1/messages?batch_id={sent['batch_id']}", headers=bob.headers)).json()
        assert page["data"] == []

    async def test_the_account_endpoint_shows_the_callers_account(self, client, operator: Operator):
        customer = operator.customer(balance=1234)
        info = (await client.get("/v1/account", headers=customer.headers)).json()
        assert info["id"] == customer.account.id
        assert (info["balance"], info["available"], info["credit_limit"]) == (1234, 1234, 0)
        assert (info["currency"], info["payment_type"], info["status"]) == ("IQD", "prepaid", "active")


class TestKeyCache:
    async def test_a_revocation_elsewhere_takes_effect_within_the_cache_time(self, settings, operator, db):
        customer = operator.customer()
        app = create_app(settings.model_copy(update={"cache_seconds": 0.3}), role="api")
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            assert (await http.get("/v1/account", headers=customer.headers)).status_code == 200
            with db.write() as conn:
                accounts.revoke_key(conn, accounts.key_prefix(customer.key), datetime.now(UTC))
            cached = await http.get("/v1/account", headers=customer.headers)
            await asyncio.sleep(0.35)
            after = await http.get("/v1/account", headers=customer.headers)
        assert cached.status_code == 200  # served from the cache
        assert await problem_code(after) == (401, "revoked_api_key")

    async def test_a_suspension_stops_sends_at_once_even_with_a_cached_key(self, settings, operator):
        customer = operator.customer()
        app = create_app(settings.model_copy(update={"cache_seconds": 60}), role="api")
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            assert (await http.post("/v1/messages", json=SEND, headers=customer.headers)).status_code == 202
            operator.suspend(customer.account.id)
            response = await http.post("/v1/messages", json=SEND, headers=customer.headers)
        assert await problem_code(response) == (403, "account_suspended")
        assert operator.account(customer.account.id).balance == 100_000 - 20
