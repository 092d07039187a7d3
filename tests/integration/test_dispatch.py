"""Messages that move: from acceptance through the dispatcher and the simulator to a final state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from qasid.models import jobs, messages, simulator_inbox
from qasid.outbox.records import JobKind, Lane
from qasid.outbox.repository import JobRepository
from qasid.routing import service as routing
from qasid.routing.repository import RoutingRepository
from tests.support import Customer, Operator, add_simulator, running_simulator, wait_for

DELIVERS, REFUSED, UNDELIVERED, SILENT, REJECTED, THROTTLED = (f"+964770000000{n}" for n in range(1, 7))
FINAL = {"delivered", "undelivered", "failed", "expired", "rejected", "partially_delivered", "canceled"}


async def send(http, customer: Customer, to, **extra):
    response = await http.post(
        "/v1/messages",
        json={"to": to, "text": "Your code is 4821", "sender": "Qasid", **extra},
        headers=customer.headers,
    )
    assert response.status_code == 202, response.text
    return response.json()


async def final(http, customer: Customer, message_id: str, within: float = 10.0) -> dict:
    async def done():
        message = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
        return message if message["status"] in FINAL else None

    return await wait_for(done, within)


def inbox_count(db, message_id: str) -> int:
    with db.read() as conn:
        query = (
            select(func.count())
            .select_from(simulator_inbox)
            .where(simulator_inbox.c.message_id == message_id)
        )
        return int(conn.execute(query).scalar_one())


class TestOutcomes:
    async def test_a_message_is_delivered_through_the_simulator(self, gateway, operator: Operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(http, customer, DELIVERS))["messages"][0]["id"]
        message = await final(http, customer, message_id)
        assert message["status"] == "delivered"
        assert [h["status"] for h in message["history"]] == ["accepted", "sent", "delivered"]
        assert "stat:DELIVRD" in message["history"][-1]["detail"]
        assert inbox_count(db, message_id) == 1
        assert operator.account(customer.account.id).balance == 980

    async def test_a_permanent_refusal_fails_the_message_with_the_carriers_code_and_refunds_it(
        self, gateway, operator, db
    ):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(http, customer, REFUSED))["messages"][0]["id"]
        message = await final(http, customer, message_id)
        assert message["status"] == "failed"
        assert message["error_code"] == "ESME_RINVDSTADR"
        assert operator.account(customer.account.id).balance == 1000
        assert operator.ledger_sum(customer.account.id) == 1000

    async def test_an_undelivered_message_is_charged(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message = await final(http, customer, (await send(http, customer, UNDELIVERED))["messages"][0]["id"])
        assert (message["status"], message["error_code"]) == ("undelivered", "001")  # the receipt's err:
        assert operator.account(customer.account.id).balance == 980

    async def test_a_rejected_message_is_refunded(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message = await final(http, customer, (await send(http, customer, REJECTED))["messages"][0]["id"])
        assert (message["status"], message["error_code"]) == ("rejected", "002")  # the receipt's err:
        assert operator.account(customer.account.id).balance == 1000

    async def test_a_message_never_reported_expires_when_its_validity_ends_and_is_charged(
        self, gateway, operator, db
    ):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(http, customer, SILENT, validity=1))["messages"][0]["id"]
        message = await final(http, customer, message_id)
        assert message["status"] == "expired"
        assert [h["status"] for h in message["history"]] == ["accepted", "sent", "expired"]
        assert operator.account(customer.account.id).balance == 980

    async def test_a_transient_refusal_is_retried_until_the_validity_ends_then_refunded(
        self, gateway, operator, db
    ):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(http, customer, THROTTLED, validity=2))["messages"][0]["id"]
        await wait_for(lambda: _job(db, message_id) and _job(db, message_id)["attempts"] >= 2)
        assert "ESME_RTHROTTLED" in _job(db, message_id)["last_error"]
        message = await final(http, customer, message_id)
        assert message["status"] == "expired"
        assert message["history"][-1]["detail"] == "the validity ran out before it could be sent"
        assert operator.account(customer.account.id).balance == 1000


def _job(db, message_id: str):
    with db.read() as conn:
        return conn.execute(select(jobs).where(jobs.c.message_id == message_id)).mappings().first()


class TestRouting:
    async def test_a_transient_failure_fails_over_to_the_next_route(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db, "busy", priority=1, transient_failure_rate=1.0)
        await running_simulator(app, db, "spare", priority=2)
        customer = operator.customer()
        message = await final(
            http, customer, (await send(http, customer, "+9647701112233"))["messages"][0]["id"]
        )
        assert message["status"] == "delivered"
        assert message["history"][1]["detail"] == "via spare"

    async def test_the_most_specific_route_goes_first(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db, "anything", priority=10)
        zain = await running_simulator(app, db, "zain-only", priority=10)
        with db.write() as conn:  # a second, narrower route to the zain connector
            routing.add_route(conn, zain, datetime.now(UTC), operator="zain", priority=10)
        await asyncio.sleep(0.5)  # workers pick route changes up within connectors_reload_seconds
        customer = operator.customer()
        message = await final(
            http, customer, (await send(http, customer, "+9647801112233"))["messages"][0]["id"]
        )
        assert message["history"][1]["detail"] == "via zain-only"

    async def test_without_a_route_the_message_waits_until_one_appears(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        message_id = (await send(http, customer, DELIVERS))["messages"][0]["id"]
        await wait_for(
            lambda: _job(db, message_id) and "no route" in (_job(db, message_id)["last_error"] or "")
        )
        await running_simulator(app, db)
        message = await final(http, customer, message_id)
        assert message["status"] == "delivered"

    async def test_a_disabled_connector_is_not_used(self, gateway, operator, db):
        http, app = gateway
        off = await running_simulator(app, db, "off", priority=1)
        await running_simulator(app, db, "on", priority=2)
        with db.write() as conn:
            RoutingRepository(conn).set_enabled(off, False, datetime.now(UTC))
        await asyncio.sleep(0.5)  # workers pick connector changes up within connectors_reload_seconds
        customer = operator.customer()
        message = await final(http, customer, (await send(http, customer, DELIVERS))["messages"][0]["id"])
        assert message["history"][1]["detail"] == "via on"


class TestScheduling:
    async def test_a_scheduled_message_leaves_within_a_second_of_its_time(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer()
        at = datetime.now(UTC) + timedelta(seconds=1.5)
        message_id = (await send(http, customer, DELIVERS, schedule_at=at.isoformat()))["messages"][0]["id"]
        await asyncio.sleep(1.0)
        early = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
        assert early["status"] == "scheduled"
        message = await final(http, customer, message_id)
        sent_at = datetime.fromisoformat(next(h["at"] for h in message["history"] if h["status"] == "sent"))
        assert timedelta(0) <= sent_at - at < timedelta(seconds=1)

    async def test_a_canceled_message_never_leaves(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        at = datetime.now(UTC) + timedelta(seconds=0.8)
        message_id = (await send(http, customer, DELIVERS, schedule_at=at.isoformat()))["messages"][0]["id"]
        assert (
            await http.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers)
        ).status_code == 200
        await asyncio.sleep(1.5)
        message = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
        assert message["status"] == "canceled"
        assert inbox_count(db, message_id) == 0
        assert _job(db, message_id) is None
        assert operator.account(customer.account.id).balance == 1000


class TestParts:
    async def test_a_long_message_goes_in_parts_and_is_delivered_when_every_part_is(
        self, gateway, operator, db
    ):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer(balance=1000, price=20)
        text = "x" * 300  # two parts
        sent = await send(http, customer, DELIVERS, text=text)
        message_id = sent["messages"][0]["id"]
        message = await final(http, customer, message_id)
        assert (message["status"], message["segments"]) == ("delivered", 2)
        assert inbox_count(db, message_id) == 2
        assert operator.account(customer.account.id).balance == 960


class TestSimulatorInbox:
    async def test_the_api_shows_the_callers_own_simulated_messages(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        alice, bob = operator.customer(name="alice"), operator.customer(name="bob")
        mine = (await send(http, alice, DELIVERS))["messages"][0]["id"]
        theirs = (await send(http, bob, DELIVERS))["messages"][0]["id"]
        await final(http, alice, mine)
        await final(http, bob, theirs)
        inbox = (
            await http.get("/v1/simulator/messages", params={"to": "07700000001"}, headers=alice.headers)
        ).json()
        assert [m["message_id"] for m in inbox] == [mine]
        assert inbox[0]["text"] == "Your code is 4821"


class TestOrphanJobs:
    async def test_a_job_whose_message_is_gone_is_dropped_and_the_others_still_go(
        self, gateway, operator, db
    ):
        """jobs.message_id has no foreign key (migration 0015), so the dispatcher must cope."""
        http, app = gateway
        customer = operator.customer(balance=1000, price=20)
        now = datetime.now(UTC)
        with db.write() as conn:
            JobRepository(conn).add([(JobKind.DISPATCH.value, "msg_" + "0" * 32, now, 0, now, Lane.URGENT)])
        message_id = (await send(http, customer, DELIVERS))["messages"][0]["id"]
        await running_simulator(app, db)
        assert (await final(http, customer, message_id))["status"] == "delivered"

        def jobs_left():
            with db.read() as conn:
                return conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0

        await wait_for(jobs_left, 5)


class TestLanes:
    def test_a_due_urgent_job_is_claimed_before_older_normal_ones(self, db):
        now = datetime.now(UTC)
        with db.write() as conn:
            JobRepository(conn).add([
                (JobKind.EXPIRE.value, None, now - timedelta(seconds=30), 0, now, Lane.NORMAL),
                (JobKind.EXPIRE.value, None, now - timedelta(seconds=20), 0, now, Lane.NORMAL),
                (JobKind.EXPIRE.value, None, now - timedelta(seconds=1), 0, now, Lane.URGENT),
                (JobKind.EXPIRE.value, None, now + timedelta(seconds=60), 0, now, Lane.URGENT),  # not due
            ])  # fmt: skip
        with db.write() as conn:
            first = JobRepository(conn).claim("wrk_a", now, 1)
            rest = JobRepository(conn).claim("wrk_a", now, 10)
        assert [j.run_at for j in first] == [now - timedelta(seconds=1)]
        assert [j.run_at for j in rest] == [now - timedelta(seconds=30), now - timedelta(seconds=20)]
        with db.read() as conn:
            marks = conn.execute(select(jobs.c.run_at, jobs.c.claimed_by, jobs.c.claimed_at)).all()
        assert sorted(marks) == [
            (now - timedelta(seconds=30), "wrk_a", now),
            (now - timedelta(seconds=20), "wrk_a", now),
            (now - timedelta(seconds=1), "wrk_a", now),
            (now + timedelta(seconds=60), None, None),
        ]

    async def test_codes_go_in_the_urgent_lane_and_texts_in_the_normal_one(self, client, operator, db):
        customer = operator.customer(senders_approved=("Qasid", "Brand"))
        add_simulator(db)  # a route for SMS (the verification API checks there is one)
        sale = {"to": "+9647701234567", "text": "Sale", "sender": "Qasid"}
        text = await client.post("/v1/messages", json=sale, headers=customer.headers)
        wanted = {"to": "+9647701234568", "sender": "Qasid"}
        code = await client.post("/v1/verifications", json=wanted, headers=customer.headers)
        smsapi = {
            "key": customer.key,
            "brandID": "Brand",
            "otp": "true",
            "numbers": "9647701234569",
            "text": "1234",
        }
        otp = await client.get("/smsapi/send", params=smsapi)
        assert [text.status_code, code.status_code, otp.status_code] == [202, 201, 200]
        with db.read() as conn:
            lanes = dict(
                conn.execute(
                    select(messages.c.recipient, jobs.c.lane).join(
                        messages, messages.c.id == jobs.c.message_id
                    )
                ).all()
            )
        assert lanes == {
            "+9647701234567": Lane.NORMAL,
            "+9647701234568": Lane.URGENT,
            "+9647701234569": Lane.URGENT,
        }
