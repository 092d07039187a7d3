"""Webhooks to customers: endpoints, signed deliveries of message and verification events, retries,
and a request's own callback. A real HTTP receiver on loopback stands in for the customer."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from sqlalchemy import select

from qasid.models import webhook_deliveries
from qasid.outbox.repository import WorkerRepository
from qasid.webhooks.events import HANDED, HANDOFF, PUBLISHED, Event, publish
from qasid.webhooks.records import EventType
from qasid.webhooks.repository import DeliveryRepository, EndpointRepository
from tests.httpserver import HttpRequest, HttpResponse
from tests.receiver import (
    Receiver,
    deliveries,
    endpoint,
    final_state_delivery,
    message_status,
    only_delivery,
    running,
    send,
    tries,
    verified,
)
from tests.support import Operator, running_simulator, wait_for

DELIVERS, REFUSED, UNDELIVERED = "+9647700000001", "+9647700000002", "+9647700000003"


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
        # Calls may overtake each other; the sequence orders a message's events.
        bodies = sorted(
            (verified(created["secret"], call) for call in receiver.calls),
            key=lambda b: b["data"]["sequence"],
        )
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
            await wait_for(lambda: deliveries(db, "delivered") >= 1)
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
            await wait_for(lambda: message_status(db, message_id) == "delivered")
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
            before = (await http.get("/metrics")).text
            await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, DELIVERS)
            await wait_for(lambda: len(receiver.calls) == 3)
            page = (await http.get("/v1/webhooks/deliveries", headers=customer.headers)).json()
            await wait_for(lambda: deliveries(db, "delivered") == 1)
            detail = (
                await http.get(f"/v1/webhooks/deliveries/{page['data'][0]['id']}", headers=customer.headers)
            ).json()
            after = (await http.get("/metrics")).text
        tried = {
            outcome: metric(after, f'qasid_webhook_tries_total{{outcome="{outcome}"}}')
            - metric(before, f'qasid_webhook_tries_total{{outcome="{outcome}"}}')
            for outcome in ("failed", "delivered")
        }
        assert tried == {"failed": 2, "delivered": 1}
        assert "\nqasid_webhook_queue_depth 0.0" in after
        assert "\nqasid_oldest_webhook_age_seconds 0.0" in after
        assert len({call.headers["webhook-id"] for call in receiver.calls}) == 1
        assert len({call.body for call in receiver.calls}) == 1
        assert detail["status"] == "delivered"
        assert [t["status_code"] for t in detail["tries"]] == [500, 503, 200]
        assert len(detail["tries"][0]["response"]) == 1024
        assert all(t["latency_ms"] >= 0 for t in detail["tries"])

    async def test_an_answer_with_a_nul_byte_is_kept_and_the_delivery_ends(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        """PostgreSQL's text cannot hold NUL: kept as it came, the try could never be written down
        and its delivery would wait for good."""

        async def nul(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(200, b"ok\x00then more")

        receiver.answer = nul
        detail = await final_state_delivery(fast_settings, operator, db, receiver.url)
        assert [t["response"] for t in detail["tries"]] == ["ok\ufffdthen more"]

    async def test_an_endpoint_is_changed_by_its_failures_not_by_each_delivery(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        down = False

        async def flaky(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(500 if down else 200)

        receiver.answer = flaky
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            hooks = await endpoint(http, customer, receiver.url, statuses="final")

            async def shown() -> dict:
                return (await http.get(f"/v1/webhooks/{hooks['id']}", headers=customer.headers)).json()

            await send(http, customer, DELIVERS)
            await wait_for(lambda: deliveries(db, "delivered") == 1)
            after_success = await shown()
            down = True
            await send(http, customer, DELIVERS)
            await wait_for(lambda: tries(db) >= 2)  # the failure is written down
            after_failure = await shown()
            down = False
            await wait_for(lambda: deliveries(db, "delivered") == 2)
            after_recovery = await shown()
        assert (after_success["failures"], after_success["updated_at"]) == (0, hooks["updated_at"])
        assert after_failure["failures"] >= 1
        assert after_failure["updated_at"] > hooks["updated_at"]
        assert after_recovery["failures"] == 0
        assert after_recovery["updated_at"] > after_failure["updated_at"]


class TestReceiverFailures:
    async def test_a_receiver_that_is_down_gets_the_event_once_it_is_back(
        self, fast_settings, operator: Operator, db
    ):
        async with Receiver() as probe:  # take a free port, then let it go: nothing listens there
            url = probe.url
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, url, statuses="final")
            await send(http, customer, DELIVERS)
            await wait_for(lambda: tries(db) >= 2)
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            async with Receiver(port=port) as back:
                await wait_for(lambda: back.calls, within=10)
                await wait_for(lambda: deliveries(db, "delivered") == 1)
            detail = await only_delivery(http, customer)
        assert len(back.calls) == 1
        assert detail["status"] == "delivered"
        failed = [t for t in detail["tries"] if t["status_code"] is None]
        assert failed
        assert all("Connect call failed" in t["error"] for t in failed), failed

    async def test_a_slow_receiver_times_out_and_its_retry_carries_the_same_webhook_id(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        slow = [True]

        async def answer(_request: HttpRequest) -> HttpResponse:
            if slow.pop() if slow else False:
                await asyncio.sleep(1.5)  # beyond the 0.5 s timeout
            return HttpResponse(200)

        receiver.answer = answer
        detail = await final_state_delivery(
            fast_settings, operator, db, receiver.url, webhook_timeout_seconds=0.5
        )
        assert [t["error"] for t in detail["tries"]] == ["no answer within 0.5 s", None]
        assert len(receiver.calls) == 2
        assert len({call.headers["webhook-id"] for call in receiver.calls}) == 1

    async def test_a_receiver_that_answers_and_then_stalls_its_body_times_out_too(
        self, fast_settings, operator: Operator, db
    ):
        """The timeout bounds the whole call: a 200 whose body never finishes is no answer."""
        calls = 0

        async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal calls
            calls += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnot all of it")
            await writer.drain()
            await asyncio.sleep(3)  # the rest never comes within the 0.5 s timeout
            writer.close()

        server = await asyncio.start_server(stall, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with running(fast_settings, webhook_timeout_seconds=0.5) as (http, app):
                await running_simulator(app, db)
                customer = operator.customer()
                await endpoint(http, customer, f"http://127.0.0.1:{port}/hooks", statuses="final")
                await send(http, customer, DELIVERS)
                await wait_for(lambda: tries(db) >= 1, within=10)
                detail = await only_delivery(http, customer)
        finally:
            server.close()
        assert detail["status"] == "pending"
        assert detail["tries"][0]["error"] == "no answer within 0.5 s"
        assert calls >= 1

    async def test_410_gone_disables_the_endpoint_tells_the_others_and_keeps_the_event_for_later(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        gone = [True]

        async def answer(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(410 if gone else 204)

        receiver.answer = answer
        async with Receiver(path="/ops") as ops, running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            hooks = await endpoint(http, customer, receiver.url, events=["message.status"], statuses="final")
            await endpoint(http, customer, ops.url, events=["webhook.disabled"])
            await send(http, customer, DELIVERS)
            await wait_for(lambda: ops.calls)
            shown = (await http.get(f"/v1/webhooks/{hooks['id']}", headers=customer.headers)).json()
            assert not shown["enabled"]
            assert "410" in shown["disabled_reason"]
            assert deliveries(db, "pending") == 1  # held while the endpoint is disabled
            gone.clear()
            response = await http.patch(
                f"/v1/webhooks/{hooks['id']}", json={"enabled": True}, headers=customer.headers
            )
            assert response.json()["enabled"]
            await wait_for(lambda: deliveries(db, "delivered") == 2)
        (notice,) = ops.bodies()
        assert notice["type"] == "webhook.disabled"
        assert notice["data"]["id"] == hooks["id"]
        assert [call.headers["webhook-id"] for call in receiver.calls].count(
            receiver.calls[0].headers["webhook-id"]
        ) == 2

    async def test_a_receiver_whose_certificate_is_not_trusted_is_not_sent_the_event(
        self, fast_settings, operator: Operator, db, tmp_path
    ):
        authority = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        async with Receiver(tls=context) as receiver:
            async with running(fast_settings) as (http, app):
                await running_simulator(app, db)
                customer = operator.customer()
                await endpoint(http, customer, receiver.url, statuses="final")
                await send(http, customer, DELIVERS)
                await wait_for(lambda: tries(db) >= 2)
                detail = await only_delivery(http, customer)
            assert receiver.calls == []
            assert detail["status"] == "pending"
            assert "CERTIFICATE_VERIFY_FAILED" in detail["tries"][0]["error"]
            # The operator trusts that authority: the same delivery now goes through.
            authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
            async with running(fast_settings, webhook_ca_file=tmp_path / "ca.pem"):
                await wait_for(lambda: deliveries(db, "delivered") == 1)
            assert len(receiver.calls) == 1

    async def test_an_endpoint_failing_too_long_is_disabled(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async def broken(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(500)

        receiver.answer = broken
        rules = {"webhook_disable_after_failures": 3, "webhook_disable_after_seconds": 0}
        async with running(fast_settings, **rules) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            hooks = await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, DELIVERS)

            async def disabled() -> dict | None:
                found = (await http.get(f"/v1/webhooks/{hooks['id']}", headers=customer.headers)).json()
                return None if found["enabled"] else found

            shown = await wait_for(disabled)
            await asyncio.sleep(0.5)  # nothing more goes to a disabled endpoint
            calls = len(receiver.calls)
            await asyncio.sleep(0.5)
        assert shown["disabled_reason"].startswith("3 failed tries in a row")
        assert calls == len(receiver.calls) == 3


class TestGivingUpAndReplay:
    async def test_a_delivery_is_failed_after_its_time_and_a_replay_sends_the_same_event(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        failing = [True]

        async def answer(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(500 if failing else 200)

        receiver.answer = answer
        async with running(fast_settings, webhook_retry_for_seconds=0.5) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, DELIVERS)
            await wait_for(lambda: deliveries(db, "failed") == 1)
            first = await only_delivery(http, customer)
            failing.clear()
            replayed = await http.post(
                f"/v1/webhooks/deliveries/{first['id']}/replay", headers=customer.headers
            )
            assert replayed.status_code == 202, replayed.text
            await wait_for(lambda: deliveries(db, "delivered") == 1)
            after = await only_delivery(http, customer)
        assert first["status"] == "failed"
        assert first["last_error"].startswith(f"gave up after {first['attempts']} tries")
        assert after["status"] == "delivered"
        assert after["attempts"] == first["attempts"] + 1
        assert len({call.headers["webhook-id"] for call in receiver.calls}) == 1
        assert {call.body for call in receiver.calls} == {receiver.calls[0].body}

    async def test_a_replay_of_another_accounts_delivery_is_not_found(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            owner, other = operator.customer(name="owner"), operator.customer(name="other")
            await endpoint(http, owner, receiver.url, statuses="final")
            await send(http, owner, DELIVERS)
            await wait_for(lambda: deliveries(db, "delivered") == 1)
            delivery = await only_delivery(http, owner)
            response = await http.post(
                f"/v1/webhooks/deliveries/{delivery['id']}/replay", headers=other.headers
            )
        assert response.status_code == 404
        assert len(receiver.calls) == 1


class TestNothingLost:
    async def test_deliveries_waiting_when_the_gateway_stops_go_out_after_it_starts_again(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        up: list[bool] = []

        async def answer(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(200 if up else 503)

        receiver.answer = answer
        async with running(fast_settings) as (http, app):
            await five_sent(http, app, db, operator, receiver)
            await wait_for(lambda: deliveries(db, "pending") == 5 and tries(db) >= 5)
        up.append(True)
        async with running(fast_settings):
            await wait_for(lambda: deliveries(db, "delivered") == 5)
        assert len(receiver.events()) == 5

    @pytest.mark.parametrize(
        "gone",
        [
            "died",  # it claimed an event and then fell silent
            "stopped",  # another writer of its stopping process handed it one after it gave its claims back
        ],
    )
    async def test_deliveries_held_by_a_worker_that_is_gone_are_taken_back(
        self, fast_settings, operator: Operator, db, receiver: Receiver, gone: str
    ):
        async with running(fast_settings) as (http, _app):
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, events=["verification.status"])
        with db.write() as conn:
            now = datetime.now(UTC)
            workers = WorkerRepository(conn)
            if gone == "died":
                workers.register("wrk_gone", "worker", "elsewhere", 1, now - timedelta(minutes=5))
            else:
                workers.register("wrk_gone", "serve", "here", 1, now)
                workers.stop(["wrk_gone"], now)
            publish(
                conn,
                [Event(EventType.VERIFICATION_STATUS, customer.account.id, "ver_x", 2, {"id": "ver_x"})],
                now,
            )
            DeliveryRepository(conn).claim("wrk_gone", now, 10, ())
        async with running(fast_settings):
            await wait_for(lambda: receiver.calls)
        assert receiver.bodies()[0]["data"]["id"] == "ver_x"


async def five_sent(http: Any, app: Any, db: Any, operator: Operator, receiver: Receiver) -> None:
    """Five messages sent by a new customer whose endpoint hears their final states."""
    await running_simulator(app, db)
    customer = operator.customer()
    await endpoint(http, customer, receiver.url, statuses="final")
    for _ in range(5):
        await send(http, customer, DELIVERS)


def metric(text: str, sample: str) -> float:
    """A sample's value in a /metrics page (0 when it is not there yet)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestFairness:
    async def test_an_endpoint_gets_no_more_calls_at_once_than_its_limit_and_a_slow_one_holds_up_no_other(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        going, most = [0], [0]

        async def slow(_request: HttpRequest) -> HttpResponse:
            going[0] += 1
            most[0] = max(most[0], going[0])
            await asyncio.sleep(0.3)
            going[0] -= 1
            return HttpResponse(204)

        receiver.answer = slow
        async with (
            Receiver(path="/fast") as fast,
            running(fast_settings, webhook_endpoint_max_in_flight=3) as (
                http,
                _app,
            ),
        ):
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, events=["verification.status"])
            other = operator.customer(name="other")
            await endpoint(http, other, fast.url, events=["verification.status"])
            with db.write() as conn:
                now = datetime.now(UTC)
                publish(conn, [_event(customer, n) for n in range(12)], now)
            await wait_for(lambda: going[0] == 3)
            with db.write() as conn:
                publish(conn, [_event(other, n) for n in range(5)], datetime.now(UTC))
            started = asyncio.get_running_loop().time()
            await wait_for(lambda: len(fast.calls) == 5)
            fast_took = asyncio.get_running_loop().time() - started
            await wait_for(lambda: len(receiver.calls) == 12)
        assert most[0] == 3
        assert fast_took < 0.9  # well before the slow endpoint's 12 calls (4 rounds of 0.3 s) are done


def _event(customer, n: int) -> Event:
    return Event(EventType.VERIFICATION_STATUS, customer.account.id, f"ver_{n}", 2, {"id": f"ver_{n}"})


class FakeClaimant:
    """A sender with room for ``total`` deliveries, ``each`` per receiver."""

    worker_id = "wrk_here"

    def __init__(self, total: int, each: int) -> None:
        self.total, self.each = total, each

    def room(self, receiver: str | None) -> int:
        return self.total if receiver is None else self.each


class TestHandoff:
    def test_deliveries_are_written_claimed_while_the_sender_has_room_and_the_rest_wait(
        self, db, operator: Operator
    ):
        customer = operator.customer()
        with db.write() as conn:
            for name in ("wep_a", "wep_b"):
                EndpointRepository(conn).insert(
                    {"id": name, "account_id": customer.account.id, "url": f"https://{name}.test/hook",
                     "events": "verification.status", "statuses": "all", "format": "standard",
                     "secret": f"sealed-{name}", "enabled": True, "failures": 0,
                     "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
                )  # fmt: skip
        now = datetime.now(UTC)
        events = [
            Event(EventType.VERIFICATION_STATUS, customer.account.id, f"ver_{i}", 2, {"id": f"ver_{i}"})
            for i in range(3)
        ]
        with db.write() as conn:
            conn.info[HANDOFF] = FakeClaimant(total=4, each=2)
            try:
                assert publish(conn, events[:2], now) == 4
                assert publish(conn, events[2:], now) == 2  # the room is counted across the transaction
                handoff = conn.info[HANDED]
                waits = bool(conn.info.get(PUBLISHED))
            finally:
                for key in (HANDOFF, HANDED, PUBLISHED):
                    conn.info.pop(key, None)
        with db.read() as conn:
            d = webhook_deliveries.c
            rows = conn.execute(select(d.id, d.endpoint_id, d.subject_id, d.claimed_by, d.claimed_at)).all()
        claimed = sorted((row.endpoint_id, row.subject_id) for row in rows if row.claimed_by == "wrk_here")
        assert claimed == [("wep_a", "ver_0"), ("wep_a", "ver_1"), ("wep_b", "ver_0"), ("wep_b", "ver_1")]
        assert all(row.claimed_at == now for row in rows if row.claimed_by)
        assert sorted(row.subject_id for row in rows if row.claimed_by is None) == ["ver_2", "ver_2"]
        assert waits  # the two left behind wait for a claim: the senders are woken
        items = {item[0]: item for item in handoff.items}
        assert set(items) == {row.id for row in rows if row.claimed_by}
        one = next(item for item in handoff.items if item[2] == "wep_b")
        assert one[3:6] == ("https://wep_b.test/hook", "sealed-wep_b", "standard")  # url, secret, format

    async def test_a_gateway_sends_what_it_published_without_claiming_it(
        self, fast_settings, operator: Operator, db, receiver: Receiver, monkeypatch
    ):
        claimed: list[int] = []
        claim = DeliveryRepository.claim

        def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            rows = claim(self, *args, **kwargs)
            claimed.append(len(rows))
            return rows

        monkeypatch.setattr(DeliveryRepository, "claim", counted)
        async with running(fast_settings) as (http, app):
            await five_sent(http, app, db, operator, receiver)
            await wait_for(lambda: deliveries(db, "delivered") == 5)
        assert len(receiver.calls) == 5
        assert claimed
        assert sum(claimed) == 0  # every one went from its writer to the sender
