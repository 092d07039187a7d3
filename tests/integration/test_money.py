"""Credit, the ledger, and concurrency: money is never spent twice or below zero."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager

from qasid.api.app import create_app
from qasid.billing.service import Refund, add_credit, refund_many
from qasid.db import Database
from qasid.db.bulk import deferring, execute
from qasid.senders.records import SenderStatus
from qasid.senders.service import set_status as set_sender_status
from tests.support import Customer

SEND = {"to": "+9647701234567", "text": "hi", "sender": "Qasid"}


async def burst(http: httpx.AsyncClient, customer: Customer, count: int) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(http.post("/v1/messages", json=SEND, headers=customer.headers) for _ in range(count))
        )
    )


class TestPrepaid:
    async def test_fifty_concurrent_sends_against_credit_for_ten_accept_exactly_ten(self, client, operator):
        customer = operator.customer(balance=200, price=20)
        responses = await burst(client, customer, 50)
        assert Counter(r.status_code for r in responses) == {202: 10, 402: 40}
        refusal = next(r.json() for r in responses if r.status_code == 402)
        assert (refusal["code"], refusal["required"], refusal["available"]) == ("insufficient_funds", 20, 0)
        assert operator.account(customer.account.id).balance == 0
        assert operator.ledger_sum(customer.account.id) == 0

    async def test_two_gateways_on_one_database_still_accept_exactly_ten(self, settings, operator):
        customer = operator.customer(balance=200, price=20)
        first, second = create_app(settings, role="api"), create_app(settings, role="api")
        async with LifespanManager(first), LifespanManager(second):
            clients = [
                httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t")
                for a in (first, second)
            ]
            results = await asyncio.gather(*(burst(c, customer, 25) for c in clients))
            for c in clients:
                await c.aclose()
        statuses = Counter(r.status_code for rs in results for r in rs)
        assert statuses == {202: 10, 402: 40}
        assert operator.account(customer.account.id).balance == 0
        assert operator.ledger_sum(customer.account.id) == 0

    async def test_a_refused_request_charges_nothing_and_says_what_it_needed(self, client, operator):
        customer = operator.customer(balance=50, price=20)
        response = await client.post(
            "/v1/messages",
            json={**SEND, "to": ["+9647701234567", "+9647701234568", "+9647701234569"]},
            headers=customer.headers,
        )
        problem = response.json()
        assert (response.status_code, problem["required"], problem["available"]) == (402, 60, 50)
        assert "costs 60 IQD; 50 is available" in problem["detail"]
        assert operator.account(customer.account.id).balance == 50

    async def test_the_balance_is_the_sum_of_the_ledger(self, client, operator):
        customer = operator.customer(balance=1000, price=7)
        for n in range(5):
            await client.post(
                "/v1/messages",
                json={**SEND, "to": [f"+96477012345{n}{m}" for m in range(n + 1)]},
                headers=customer.headers,
            )
        account = operator.account(customer.account.id)
        assert account.balance == 1000 - 7 * (1 + 2 + 3 + 4 + 5)
        assert operator.ledger_sum(customer.account.id) == account.balance


class TestPostpaid:
    async def test_a_postpaid_account_goes_below_zero_until_its_credit_limit(self, client, operator):
        customer = operator.customer(postpaid_limit=100, price=20)
        responses = await burst(client, customer, 8)
        assert Counter(r.status_code for r in responses) == {202: 5, 402: 3}
        account = operator.account(customer.account.id)
        assert (account.balance, account.available) == (-100, 0)
        info = (await client.get("/v1/account", headers=customer.headers)).json()
        assert (info["payment_type"], info["balance"], info["credit_limit"]) == ("postpaid", -100, 100)


class TestIdempotency:
    async def test_a_repeat_returns_the_first_response_and_charges_once(self, client, operator):
        customer = operator.customer(balance=1000, price=20)
        headers = {**customer.headers, "Idempotency-Key": "order-7"}
        first = await client.post("/v1/messages", json=SEND, headers=headers)
        again = await client.post(
            "/v1/messages", content=b'{"sender":"Qasid","text":"hi","to":"+9647701234567"}', headers=headers
        )
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert operator.account(customer.account.id).balance == 980

    async def test_the_same_key_with_another_body_is_refused(self, client, operator):
        customer = operator.customer()
        headers = {**customer.headers, "Idempotency-Key": "k1"}
        await client.post("/v1/messages", json=SEND, headers=headers)
        response = await client.post("/v1/messages", json={**SEND, "text": "other"}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
        assert operator.account(customer.account.id).balance == 100_000 - 20

    async def test_concurrent_repeats_charge_once(self, client, operator):
        customer = operator.customer(balance=1000, price=20)
        headers = {**customer.headers, "Idempotency-Key": "same"}
        responses = await asyncio.gather(
            *(client.post("/v1/messages", json=SEND, headers=headers) for _ in range(20))
        )
        assert {r.status_code for r in responses} == {202}
        assert len({r.json()["batch_id"] for r in responses}) == 1
        assert operator.account(customer.account.id).balance == 980

    async def test_concurrent_repeats_on_two_gateways_charge_once(self, settings, operator):
        customer = operator.customer(balance=1000, price=20)
        headers = {**customer.headers, "Idempotency-Key": "shared"}
        first, second = create_app(settings, role="api"), create_app(settings, role="api")
        async with LifespanManager(first), LifespanManager(second):
            clients = [
                httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t")
                for a in (first, second)
            ]
            responses = await asyncio.gather(
                *(c.post("/v1/messages", json=SEND, headers=headers) for c in clients for _ in range(10))
            )
            for c in clients:
                await c.aclose()
        assert {r.status_code for r in responses} == {202}
        assert len({r.json()["batch_id"] for r in responses}) == 1
        assert operator.account(customer.account.id).balance == 980

    async def test_keys_belong_to_their_account(self, client, operator):
        alice, bob = operator.customer(name="alice"), operator.customer(name="bob")
        a = await client.post("/v1/messages", json=SEND, headers={**alice.headers, "Idempotency-Key": "x"})
        b = await client.post("/v1/messages", json=SEND, headers={**bob.headers, "Idempotency-Key": "x"})
        assert a.json()["batch_id"] != b.json()["batch_id"]
        assert "idempotent-replayed" not in b.headers

    async def test_a_refused_request_can_be_retried_with_its_key(self, client, operator, db):
        customer = operator.customer(balance=10, price=20)
        headers = {**customer.headers, "Idempotency-Key": "retry-me"}
        assert (await client.post("/v1/messages", json=SEND, headers=headers)).status_code == 402
        with db.write() as conn:
            add_credit(conn, operator.account(customer.account.id), 100, datetime.now(UTC))
        retry = await client.post("/v1/messages", json=SEND, headers=headers)
        assert retry.status_code == 202
        assert operator.account(customer.account.id).balance == 90

    async def test_a_repeat_gets_the_first_answer_even_if_the_request_would_now_be_refused(
        self, client, operator, db
    ):
        customer = operator.customer(balance=1000, price=20)
        headers = {**customer.headers, "Idempotency-Key": "before-rejection"}
        first = await client.post("/v1/messages", json=SEND, headers=headers)
        with db.write() as conn:
            set_sender_status(conn, customer.account.id, "Qasid", SenderStatus.REJECTED, datetime.now(UTC))
        again = await client.post("/v1/messages", json=SEND, headers=headers)
        assert (again.status_code, again.json()) == (202, first.json())
        assert again.headers["idempotent-replayed"] == "true"
        fresh = await client.post(
            "/v1/messages", json=SEND, headers={**customer.headers, "Idempotency-Key": "new"}
        )
        assert fresh.json()["code"] == "sender_not_approved"

    async def test_an_overlong_key_is_refused(self, client, operator):
        customer = operator.customer()
        response = await client.post(
            "/v1/messages", json=SEND, headers={**customer.headers, "Idempotency-Key": "k" * 256}
        )
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"


class TestRefunds:
    def test_a_refund_in_a_group_commit_locks_the_account_only_at_the_commit(self, db: Database, operator):
        """The worker refunds messages that end unsent while API requests of the same account wait
        for its row: the refund's update goes last, so the row stays free until the commit."""
        if not db.url.startswith("postgresql"):
            pytest.skip("SQLite's write lock is the whole database's; PostgreSQL locks rows")
        account = operator.customer(balance=100).account.id
        take_row = "SELECT balance FROM accounts WHERE id = %s FOR NO KEY UPDATE NOWAIT"
        with db.write() as conn, deferring(conn):
            refund_many(conn, [Refund(account, "msg_1", "bat_1", 20, "ended rejected")], datetime.now(UTC))
            execute(conn, "SELECT 1")  # a statement that reads: what is deferred normally goes before it
            with db.engine.connect() as other, other.begin():
                during = other.exec_driver_sql(take_row, (account,)).scalar_one()  # NOWAIT: raises if held
        assert during == 100  # the refund is not visible before its commit
        assert operator.account(account).balance == 120
        assert operator.ledger_sum(account) == 120
