"""Campaigns: a text or template to lists and numbers, made into messages by the workers, with the
opted-out and blocked skipped and counted, the credit checked up front, a rate kept, quiet hours
respected, and pause, resume and cancel; reported by state and cost, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from qasid.accounts.records import Caller
from qasid.accounts.repository import AccountRepository
from qasid.billing import service as billing
from qasid.billing.service import price_list
from qasid.errors import InsufficientFunds
from qasid.messages.accept import accept_chunk
from qasid.messages.prepare import PreparedSend, SendCatalog, prepare_send
from qasid.messages.repository import MessageRepository
from qasid.messages.schemas import SendMessageRequest
from qasid.models import messages, simulator_inbox
from qasid.optout import service as optout
from qasid.optout.records import ListKind
from qasid.senders.service import rules
from tests.receiver import running
from tests.support import Customer, Operator, running_simulator, wait_for

PEOPLE = [("07701000001", "Ali", "Erbil"), ("07801000002", "Sara", "Basra"), ("07901000003", None, "Najaf")]


async def audience(http, customer: Customer, people=PEOPLE) -> str:
    made = (await http.post("/v1/contact-lists", json={"name": "All"}, headers=customer.headers)).json()
    for number, name, city in people:
        response = await http.post(
            f"/v1/contact-lists/{made['id']}/contacts",
            json={"number": number, "name": name, "fields": {"city": city}},
            headers=customer.headers,
        )
        assert response.status_code == 201, response.text
    return str(made["id"])


async def launch(http, customer: Customer, status: int = 201, **body: object) -> dict:
    response = await http.post(
        "/v1/campaigns", json={"name": "Sale", "sender": "Qasid", **body}, headers=customer.headers
    )
    assert response.status_code == status, response.text
    return dict(response.json())


async def until(http, customer: Customer, campaign_id: str, check) -> dict:
    async def shown() -> dict | None:
        found = (await http.get(f"/v1/campaigns/{campaign_id}", headers=customer.headers)).json()
        return found if check(found) else None

    return dict(await wait_for(shown, within=20))


def inbox(db) -> dict[str, str]:
    with db.read() as conn:
        return dict(conn.execute(select(simulator_inbox.c.recipient, simulator_inbox.c.body)).all())


class TestACampaign:
    async def test_a_template_goes_to_a_list_and_numbers_once_each_and_is_reported(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=10_000, price=20)
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            list_id = await audience(http, customer)
            body = {"name": "sale", "body": "Hi {{name|friend}} in {{city}}!"}
            template = (await http.post("/v1/templates", json=body, headers=customer.headers)).json()
            made = await launch(http, customer, template_id=template["id"], lists=[list_id],
                                numbers=["+9647801000002", "+9647501000004"])  # fmt: skip
            assert (made["recipients"], made["estimated_cost"]) == (5, 100)
            done = await until(
                http, customer, made["id"], lambda c: c["by_status"].get("delivered", {}).get("messages") == 4
            )
            report = (await http.get(f"/v1/campaigns/{made['id']}/report.csv", headers=customer.headers)).text
        assert (done["status"], done["queued"], done["cost"], done["progress"]) == ("done", 4, 80, 1.0)
        assert done["by_status"] == {"delivered": {"messages": 4, "cost": 80}}
        texts = inbox(db)
        assert texts == {
            "+9647701000001": "Hi Ali in Erbil!", "+9647801000002": "Hi Sara in Basra!",
            "+9647901000003": "Hi friend in Najaf!", "+9647501000004": "Hi friend in !",
        }  # fmt: skip
        rows = list(csv.DictReader(io.StringIO(report)))
        assert sorted(r["to"] for r in rows) == sorted(texts)
        assert {r["status"] for r in rows} == {"delivered"}
        assert operator.account(customer.account.id).balance == 10_000 - 80

    async def test_opted_out_and_blocked_recipients_are_skipped_counted_and_not_charged(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=10_000, price=20)
        with db.write() as conn:
            now = datetime.now(UTC)
            optout.add(
                conn, customer.account.id, "+9647701000001", ListKind.STOP, now, source="api", note=None
            )
            optout.add(
                conn, customer.account.id, "+9647801000002", ListKind.BLOCK, now, source="api", note=None
            )
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            made = await launch(http, customer, text="Sale today", lists=[await audience(http, customer)])
            done = await until(http, customer, made["id"], lambda c: c["status"] == "done")
        assert (done["queued"], done["skipped_stopped"], done["skipped_blocked"], done["cost"]) == (
            1,
            1,
            1,
            20,
        )

    async def test_a_contact_in_two_of_its_lists_gets_one_message(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=10_000, price=20)
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            first = await audience(http, customer)
            second = (
                await http.post("/v1/contact-lists", json={"name": "Second"}, headers=customer.headers)
            ).json()
            for number in ("07801000002", "07501000009"):  # one of them is in the first list too
                await http.post(
                    f"/v1/contact-lists/{second['id']}/contacts",
                    json={"number": number},
                    headers=customer.headers,
                )
            made = await launch(http, customer, text="Sale", lists=[first, second["id"]])
            done = await until(http, customer, made["id"], lambda c: c["status"] == "done")
            await wait_for(lambda: len(inbox(db)) >= 4)  # "done" is made and queued; then delivered
        assert (made["recipients"], done["queued"]) == (4, 4)
        assert sorted(inbox(db)) == ["+9647501000009", "+9647701000001", "+9647801000002", "+9647901000003"]

    async def test_a_campaign_the_credit_cannot_cover_is_refused_and_nothing_made(
        self, fast_settings, operator: Operator
    ):
        customer = operator.customer(balance=50, price=20)
        async with running(fast_settings) as (http, _app):
            refused = await launch(
                http, customer, status=402, text="Sale", lists=[await audience(http, customer)]
            )
            listed = (await http.get("/v1/campaigns", headers=customer.headers)).json()
        assert (refused["required"], refused["available"]) == (60, 50)
        assert listed["data"] == []

    async def test_bad_campaigns_are_refused(self, client, operator: Operator):
        customer = operator.customer()
        list_id = await audience(client, customer)
        both = await launch(client, customer, status=422, text="x", template_id="tpl_x", lists=[list_id])
        unknown = await launch(client, customer, status=404, text="x", lists=["lst_nope"])
        sender = await launch(client, customer, status=422, text="x", lists=[list_id], sender="Nobody")
        empty = await launch(client, customer, status=422, text="x", numbers=["12"])
        assert [both["code"], unknown["code"], sender["code"], empty["code"]] == [
            "invalid_request", "not_found", "invalid_request", "invalid_request",
        ]  # fmt: skip


class TestChunks:
    async def test_chunk_after_chunk_each_recipient_once_through_a_pause_when_the_money_runs_out(
        self, fast_settings, operator: Operator, db
    ):
        """Two recipients a chunk, so the next chunk is read ahead while one is written: the numbers
        first, then the list without the number already given; a stop-listed contact late in the
        list; the money runs out at the third chunk, and the chunk read ahead of it is not made."""
        settings = fast_settings.model_copy(update={"campaign_chunk": 2})
        customer = operator.customer(balance=10_000, price=20)
        people = [(f"0770100000{n}", None, "Erbil") for n in range(1, 8)]
        with db.write() as conn:
            optout.add(conn, customer.account.id, "+9647701000006", ListKind.STOP, datetime.now(UTC),
                       source="api", note=None)  # fmt: skip
        async with running(settings) as (http, app):
            await running_simulator(app, db)
            list_id = await audience(http, customer, people)
            start = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
            made = await launch(http, customer, text="Sale", lists=[list_id],
                                numbers=["07501000009", "07701000001"], start_at=start)  # fmt: skip
            with db.write() as conn:  # leaves 80: the numbers' chunk (40), the next (one contact, 20)
                billing.add_credit(conn, operator.account(customer.account.id), -9920, datetime.now(UTC))
            stuck = await until(http, customer, made["id"], lambda c: c["status"] == "paused")
            with db.write() as conn:
                billing.add_credit(conn, operator.account(customer.account.id), 9920, datetime.now(UTC))
            await http.post(f"/v1/campaigns/{made['id']}/resume", headers=customer.headers)
            done = await until(http, customer, made["id"], lambda c: c["status"] == "done")
        with db.read() as conn:
            sent = sorted(
                conn.execute(
                    select(messages.c.recipient).where(messages.c.account_id == customer.account.id)
                ).scalars()
            )
        assert (stuck["queued"], stuck["cost"]) == (3, 60)
        assert (done["queued"], done["skipped_stopped"], done["cost"]) == (7, 1, 140)
        assert sent == sorted(
            ["+9647501000009", *(f"+96477010000{n:02d}" for n in (1, 2, 3, 4, 5, 7))]
        )  # each once, the stop-listed one never
        assert operator.account(customer.account.id).balance == 10_000 - 140


class TestPacing:
    async def test_a_rate_spaces_the_chunks(self, fast_settings, operator: Operator, db):
        customer = operator.customer(balance=100_000, price=20)
        people = [(f"077010{n:05d}", None, "Erbil") for n in range(30)]
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            made = await launch(http, customer, text="Sale", lists=[await audience(http, customer, people)],
                                rate_per_minute=60)  # fmt: skip
            first = await until(http, customer, made["id"], lambda c: c["queued"] >= 10)
            paused = await http.post(f"/v1/campaigns/{made['id']}/pause", headers=customer.headers)
        assert (first["status"], first["queued"]) == ("running", 10)  # 60 a minute: 10 every 10 s
        assert paused.json()["status"] == "paused"

    async def test_quiet_hours_hold_messages_until_they_end_and_cancel_refunds_them(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=10_000, price=20)
        baghdad = datetime.now(UTC) + timedelta(hours=3)
        quiet = {
            "start": (baghdad - timedelta(hours=1)).strftime("%H:%M"),
            "end": (baghdad + timedelta(hours=2)).strftime("%H:%M"),
        }
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            made = await launch(
                http, customer, text="Sale", lists=[await audience(http, customer)], quiet_hours=quiet
            )
            held = await until(http, customer, made["id"], lambda c: c["status"] == "done")
            canceled = await http.post(f"/v1/campaigns/{made['id']}/cancel", headers=customer.headers)
        assert held["by_status"] == {"scheduled": {"messages": 3, "cost": 60}}
        assert canceled.json()["by_status"] == {"canceled": {"messages": 3, "cost": 60}}
        assert inbox(db) == {}
        assert operator.account(customer.account.id).balance == 10_000

    async def test_when_the_money_runs_out_it_pauses_and_resumes_once_topped_up(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=1000, price=20)
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            start = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
            made = await launch(
                http, customer, text="Sale", lists=[await audience(http, customer)], start_at=start
            )
            with db.write() as conn:  # spent elsewhere before the campaign starts
                billing.add_credit(conn, operator.account(customer.account.id), -990, datetime.now(UTC))
            stuck = await until(http, customer, made["id"], lambda c: c["status"] == "paused")
            with db.write() as conn:
                billing.add_credit(conn, operator.account(customer.account.id), 990, datetime.now(UTC))
            resumed = await http.post(f"/v1/campaigns/{made['id']}/resume", headers=customer.headers)
            done = await until(http, customer, made["id"], lambda c: c["status"] == "done")
        assert "costs 60" in stuck["error"]
        assert stuck["queued"] == 0
        assert resumed.status_code == 200
        assert done["queued"] == 3


def chunk_of(db, settings, customer: Customer, count: int) -> list[PreparedSend]:
    """One send of ``count`` recipients, prepared as the campaign runner prepares a chunk's."""
    account = customer.account
    with db.read() as conn:
        catalog = SendCatalog(price_list(conn, account.id, account.currency), rules(conn, account.id))
    caller = Caller(account.id, "campaign", account.currency, account.default_region, account.payment_type)
    request = SendMessageRequest(to=[f"0770200{n:04d}" for n in range(count)], text="Sale", sender="Qasid")
    return [prepare_send(caller, catalog, request, settings, datetime.now(UTC))]


class TestChunkDebit:
    def test_a_chunk_debits_once_and_writes_its_messages(self, settings, operator: Operator, db):
        customer = operator.customer(balance=1_000, price=20)
        with db.write() as conn:
            accept_chunk(conn, chunk_of(db, settings, customer, 30))
        with db.read() as conn:
            made = conn.execute(select(func.count()).select_from(messages)).scalar_one()
        assert made == 30
        assert operator.account(customer.account.id).balance == 1_000 - 600

    def test_the_account_is_not_held_while_a_chunk_is_written_and_what_it_spent_meanwhile_counts(
        self, settings, operator: Operator, db, monkeypatch
    ):
        """While the chunk's rows are written, another transaction locks the account's row as a send
        request does, spends most of the money and commits (it would time out on the row if the chunk
        held it, or if the keys of the chunk's rows, which share-lock it, kept it from locking); the
        chunk, checked against the row once it locks it, is refused and leaves nothing behind."""
        if db.is_sqlite:
            pytest.skip("SQLite's write lock excludes every other writer for the whole transaction")
        customer = operator.customer(balance=1_000, price=20)
        written = MessageRepository.insert_messages

        def insert_then_spend(self: MessageRepository, rows) -> None:
            written(self, rows)
            with db.write() as other:  # locked as a send request's group commit locks it
                other.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                AccountRepository(other).lock_for_update([customer.account.id])
                billing.add_credit(other, operator.account(customer.account.id), -900, datetime.now(UTC))

        monkeypatch.setattr(MessageRepository, "insert_messages", insert_then_spend)
        with pytest.raises(InsufficientFunds, match="costs 600 IQD; 100 is available"), db.write() as conn:
            accept_chunk(conn, chunk_of(db, settings, customer, 30))
        with db.read() as conn:
            made = conn.execute(select(func.count()).select_from(messages)).scalar_one()
        assert made == 0
        assert operator.account(customer.account.id).balance == 100
