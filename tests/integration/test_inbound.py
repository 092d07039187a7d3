"""Inbound messages and opt-outs: an MO from a phone is stored for the account that owns the number,
pushed as ``inbound.message``, and a stop word keeps that account's sends away from the phone until
a start word; accounts and the operator keep block-lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from qasid.channels.base import Inbound
from qasid.inbound.service import RecordInbound
from qasid.models import inbound_messages
from qasid.optout import service as optout
from qasid.optout.records import OPERATOR, ListKind
from tests.integration.test_smpp_gateway import smpp_route
from tests.receiver import Receiver, endpoint, running
from tests.smsc.node_smsc import NodeSmsc
from tests.support import Customer, Operator, running_simulator, wait_for

NUMBER = "+9647700000099"  # the account's long number (an approved numeric sender)
PHONE = "+9647701112233"  # a subscriber
OTHER_PHONE = "+9647701112234"


async def mo(app, text: str, sender: str = PHONE, to: str = NUMBER[1:]) -> None:
    """What a connector hands the gateway when a phone writes (the SMPP test below does it for real)."""
    message = Inbound("con_test", sender, to, text, datetime.now(UTC))
    await app.state.services.writer.submit(RecordInbound([message]))


async def sms(http, customer: Customer, to: list[str], status: int = 202, **extra: object) -> dict:
    response = await http.post(
        "/v1/messages",
        json={"to": to, "text": "Sale today", "sender": "Qasid", **extra},
        headers=customer.headers,
    )
    assert response.status_code == status, response.text
    return dict(response.json())


@pytest.fixture
def owner(operator: Operator) -> Customer:
    return operator.customer(senders_approved=("Qasid", NUMBER), balance=10_000, price=20)


class TestInboundMessages:
    async def test_an_mo_over_smpp_reaches_the_account_that_owns_the_number(
        self, fast_settings, operator: Operator, db, owner: Customer, receiver: Receiver
    ):
        async with NodeSmsc() as smsc, running(fast_settings) as (http, app):
            await smpp_route(app, db, smsc.port)
            hooks = await endpoint(http, owner, receiver.url, events=["inbound.message"])
            await smsc.send_mo(PHONE, NUMBER, "مرحبا")
            await wait_for(lambda: receiver.calls)
            listed = (await http.get("/v1/inbound-messages", headers=owner.headers)).json()["data"]
            stranger = operator.customer(name="stranger")
            theirs = (await http.get("/v1/inbound-messages", headers=stranger.headers)).json()["data"]
        (event,) = receiver.bodies()
        assert event["type"] == "inbound.message"
        assert {k: event["data"][k] for k in ("from", "to", "text", "parts", "keyword")} == {
            "from": PHONE, "to": NUMBER, "text": "مرحبا", "parts": 1, "keyword": None,
        }  # fmt: skip
        assert [(m["id"], m["from"], m["text"]) for m in listed] == [(event["data"]["id"], PHONE, "مرحبا")]
        assert theirs == []
        assert hooks["id"]

    async def test_an_mo_to_a_number_nobody_owns_is_kept_but_told_to_no_one(
        self, fast_settings, db, owner: Customer, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await endpoint(http, owner, receiver.url)
            await mo(app, "hello", to="4455")
            listed = (await http.get("/v1/inbound-messages", headers=owner.headers)).json()["data"]
        with db.read() as conn:
            (row,) = conn.execute(select(inbound_messages)).mappings().all()
        assert (row["recipient"], row["account_id"]) == ("4455", None)
        assert listed == []
        assert receiver.calls == []

    async def test_listing_filters_by_sender_and_pages(self, fast_settings, owner: Customer):
        async with running(fast_settings) as (http, app):
            for n in range(3):
                await mo(app, f"hi {n}")
            await mo(app, "other", sender=OTHER_PHONE)
            mine = (
                await http.get(
                    "/v1/inbound-messages", params={"from": PHONE, "limit": 2}, headers=owner.headers
                )
            ).json()
            rest = (
                await http.get(
                    "/v1/inbound-messages",
                    params={"from": PHONE, "limit": 2, "cursor": mine["next_cursor"]},
                    headers=owner.headers,
                )
            ).json()
            bad = await http.get(
                "/v1/inbound-messages", params={"from": "not a number"}, headers=owner.headers
            )
        assert [m["text"] for m in mine["data"] + rest["data"]] == ["hi 2", "hi 1", "hi 0"]
        assert rest["next_cursor"] is None
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "from"


class TestStopWords:
    async def test_stop_keeps_the_accounts_sends_away_and_start_lets_them_through_again(
        self, fast_settings, db, owner: Customer
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            await mo(app, "Stop sending me these")
            refused = await sms(http, owner, [PHONE, OTHER_PHONE])
            assert [m["to"] for m in refused["messages"]] == [OTHER_PHONE]
            assert refused["invalid"] == [
                {
                    "to": PHONE,
                    "reason": "stopped",
                    "detail": "the number opted out of this account's messages",
                }
            ]
            assert refused["total_cost"] == 20
            alone = await sms(http, owner, [PHONE], status=422)
            assert alone["code"] == "no_valid_recipients"
            assert alone["invalid"][0]["reason"] == "stopped"
            asked = await sms(http, owner, [PHONE], stop_list=False)
            assert len(asked["messages"]) == 1
            listed = (await http.get("/v1/stop-list", headers=owner.headers)).json()["data"]
            assert [(e["number"], e["source"]) for e in listed] == [(PHONE, "keyword")]
            await mo(app, "START")
            again = await sms(http, owner, [PHONE])
            assert len(again["messages"]) == 1
        assert operator_balance(db, owner) == 10_000 - 3 * 20

    @pytest.mark.parametrize("word", ["إيقاف", "ايقاف", "STOP!", "stopall", "ڕاگرتن"])
    async def test_arabic_kurdish_and_english_stop_words(self, fast_settings, db, owner: Customer, word: str):
        async with running(fast_settings) as (http, app):
            await mo(app, word)
            listed = (await http.get("/v1/stop-list", headers=owner.headers)).json()["data"]
        assert [e["number"] for e in listed] == [PHONE]

    async def test_an_accounts_own_words_replace_the_built_in_ones(self, fast_settings, owner: Customer):
        async with running(fast_settings) as (http, app):
            response = await http.put(
                "/v1/stop-list/keywords", json={"stop": ["BASTA"]}, headers=owner.headers
            )
            assert response.status_code == 200, response.text
            assert response.json()["stop"] == ["BASTA"]
            assert response.json()["own_start"] is False
            await mo(app, "STOP")
            assert (await http.get("/v1/stop-list", headers=owner.headers)).json()["data"] == []
            await mo(app, "basta!")
            listed = (await http.get("/v1/stop-list", headers=owner.headers)).json()["data"]
            clash = await http.put(
                "/v1/stop-list/keywords", json={"stop": ["GO"], "start": ["go"]}, headers=owner.headers
            )
            empty = await http.put("/v1/stop-list/keywords", json={"stop": ["!!!"]}, headers=owner.headers)
            kept = (await http.get("/v1/stop-list/keywords", headers=owner.headers)).json()
        assert [e["number"] for e in listed] == [PHONE]
        assert clash.status_code == 422
        assert empty.status_code == 422
        assert kept["stop"] == ["BASTA"]

    async def test_a_stop_to_one_account_leaves_the_others_alone(
        self, fast_settings, operator: Operator, owner
    ):
        other = operator.customer(name="other")
        async with running(fast_settings) as (http, app):
            await mo(app, "STOP")
            sent = await sms(http, other, [PHONE])
        assert len(sent["messages"]) == 1


class TestBlockLists:
    async def test_a_blocked_number_is_refused_even_when_the_stop_list_is_skipped(
        self, fast_settings, db, owner: Customer
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            added = await http.post(
                "/v1/block-list", json={"number": "07701112233", "note": "fraud"}, headers=owner.headers
            )
            assert added.status_code == 201, added.text
            assert (added.json()["number"], added.json()["note"]) == (PHONE, "fraud")
            refused = await sms(http, owner, [PHONE, OTHER_PHONE], stop_list=False)
            code = await http.post(
                "/v1/verifications", json={"to": PHONE, "sender": "Qasid"}, headers=owner.headers
            )
            removed = await http.delete(f"/v1/block-list/{PHONE}", headers=owner.headers)
            again = await http.delete(f"/v1/block-list/{PHONE}", headers=owner.headers)
            after = await sms(http, owner, [PHONE])
        assert [i["reason"] for i in refused["invalid"]] == ["blocked"]
        assert code.status_code == 422
        assert code.json()["invalid"][0]["reason"] == "blocked"
        assert removed.status_code == 204
        assert again.status_code == 404
        assert len(after["messages"]) == 1

    async def test_the_operators_block_list_holds_for_every_account(
        self, fast_settings, operator: Operator, db, owner: Customer
    ):
        other = operator.customer(name="other")
        with db.write() as conn:
            optout.add(conn, OPERATOR, PHONE, ListKind.BLOCK, datetime.now(UTC), source="cli", note=None)
        async with running(fast_settings) as (http, _app):
            for customer in (owner, other):
                refused = await sms(http, customer, [PHONE], status=422)
                assert refused["invalid"][0]["reason"] == "blocked"
            own_list = (await http.get("/v1/block-list", headers=owner.headers)).json()["data"]
        assert own_list == []  # the operator's list is the operator's to show

    async def test_a_bad_number_is_refused_and_nothing_is_added(self, fast_settings, owner: Customer):
        async with running(fast_settings) as (http, _app):
            response = await http.post("/v1/stop-list", json={"number": "12"}, headers=owner.headers)
            listed = (await http.get("/v1/stop-list", headers=owner.headers)).json()["data"]
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "number"
        assert listed == []


def operator_balance(db, customer: Customer) -> int:
    from qasid.accounts.service import require_account  # noqa: PLC0415

    with db.read() as conn:
        return require_account(conn, customer.account.id).balance
