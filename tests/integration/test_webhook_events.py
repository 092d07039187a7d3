"""What the events say and who gets them: a request's own callback, verification events, the
endpoint API, and events that never happen because their change did not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import update
from standardwebhooks import Webhook

from qasid.models import verifications, webhook_endpoints
from qasid.webhooks.events import Event, publish
from qasid.webhooks.formats import FORMATS, Call, Outgoing, register
from qasid.webhooks.records import Callback, EventType
from tests.httpserver import HttpRequest, HttpResponse
from tests.integration.test_verifications import check, create
from tests.receiver import Receiver, deliveries, endpoint, running, send, verified
from tests.support import Operator, running_simulator, wait_for

DELIVERS, UNDELIVERED = "+9647700000001", "+9647700000003"
SECRET = "a shared secret of the customer's own"


class TestARequestsOwnCallback:
    async def test_a_send_with_a_callback_gets_its_events_signed_with_its_secret(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            callback = {"url": receiver.url, "statuses": "final", "secret": SECRET}
            message_id = await send(http, customer, UNDELIVERED, callback=callback)
            await wait_for(lambda: receiver.calls)
        (call,) = receiver.calls
        body = Webhook(SECRET.encode()).verify(call.body, call.headers)  # the text's bytes are the key
        assert (body["data"]["id"], body["data"]["status"]) == (message_id, "undelivered")

    async def test_a_callback_without_a_secret_goes_unsigned_and_every_state_by_default(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await send(http, customer, DELIVERS, callback={"url": receiver.url})
            await wait_for(lambda: len(receiver.calls) == 2)
        statuses = [
            b["data"]["status"] for b in sorted(receiver.bodies(), key=lambda b: b["data"]["sequence"])
        ]
        assert statuses == ["sent", "delivered"]
        assert all("webhook-signature" not in call.headers for call in receiver.calls)
        assert all(call.headers["webhook-id"].startswith("evt_") for call in receiver.calls)

    async def test_the_accounts_endpoint_and_the_callback_both_get_the_event_with_one_id(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with Receiver(path="/own") as own, running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, statuses="final")
            await send(http, customer, DELIVERS, callback={"url": own.url, "statuses": "final"})
            await wait_for(lambda: receiver.calls and own.calls)
        assert receiver.calls[0].headers["webhook-id"] == own.calls[0].headers["webhook-id"]
        assert receiver.calls[0].body == own.calls[0].body


class TestVerificationEvents:
    async def test_an_approved_code_is_told_to_the_endpoint_and_to_the_verifications_callback(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with Receiver(path="/own") as own, running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            hooks = await endpoint(http, customer, receiver.url, events=["verification.status"])
            created = await create(
                http, customer, code="482913", callback_url=own.url, callback_secret=SECRET
            )
            await check(http, customer, created["id"], "000000")
            await check(http, customer, created["id"], "482913")
            await wait_for(lambda: receiver.calls and own.calls)
        (event,) = [verified(hooks["secret"], call) for call in receiver.calls]
        assert event["type"] == "verification.status"
        assert event["data"] | {"sequence": 0} == {
            "id": created["id"],
            "to": "+9647700000001",
            "status": "approved",
            "channel": "sms",
            "attempts": 1,
            "sequence": 0,
        }
        assert Webhook(SECRET.encode()).verify(own.calls[0].body, own.calls[0].headers) == event

    async def test_a_canceled_and_an_expired_verification_are_told(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer()
            await endpoint(http, customer, receiver.url, events=["verification.status"])
            canceled = await create(http, customer)
            await http.post(f"/v1/verifications/{canceled['id']}/cancel", headers=customer.headers)
            lapsing = await create(http, customer, to="+9647700000005")
            with db.write() as conn:  # its time runs out
                conn.execute(
                    update(verifications)
                    .where(verifications.c.id == lapsing["id"])
                    .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            await wait_for(lambda: len(receiver.calls) == 2)
        assert {(b["data"]["id"], b["data"]["status"]) for b in receiver.bodies()} == {
            (canceled["id"], "canceled"),
            (lapsing["id"], "expired"),
        }
        with db.read() as conn:
            stored = (
                conn.execute(verifications.select().where(verifications.c.id == lapsing["id"]))
                .mappings()
                .one()
            )
        assert stored["status"] == "expired"


class TestEndpoints:
    async def test_the_secret_is_shown_once_and_endpoints_are_the_accounts_own(
        self, client, operator: Operator
    ):
        owner, other = operator.customer(name="owner"), operator.customer(name="other")
        created = (
            await client.post(
                "/v1/webhooks",
                json={"url": "https://hooks.example.com/q", "events": ["inbound.message"]},
                headers=owner.headers,
            )
        ).json()
        assert created["secret"].startswith("whsec_")
        shown = (await client.get(f"/v1/webhooks/{created['id']}", headers=owner.headers)).json()
        assert "secret" not in shown
        assert shown["events"] == ["inbound.message"]
        assert shown["statuses"] == "all"
        listed = (await client.get("/v1/webhooks", headers=owner.headers)).json()["data"]
        assert [e["id"] for e in listed] == [created["id"]]
        assert (await client.get("/v1/webhooks", headers=other.headers)).json()["data"] == []
        stranger = await client.get(f"/v1/webhooks/{created['id']}", headers=other.headers)
        assert stranger.status_code == 404
        assert (
            await client.delete(f"/v1/webhooks/{created['id']}", headers=other.headers)
        ).status_code == 404

    async def test_changing_rotating_and_deleting_an_endpoint(self, client, operator: Operator, db):
        customer = operator.customer()
        created = (
            await client.post(
                "/v1/webhooks", json={"url": "https://a.example.com/"}, headers=customer.headers
            )
        ).json()
        changed = await client.patch(
            f"/v1/webhooks/{created['id']}",
            json={"url": "https://b.example.com/", "statuses": "final", "enabled": False},
            headers=customer.headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["url"], changed.json()["statuses"], changed.json()["enabled"]) == (
            "https://b.example.com/",
            "final",
            False,
        )
        assert changed.json()["disabled_reason"] == "disabled by request"
        rotated = (
            await client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=customer.headers)
        ).json()
        assert rotated["secret"].startswith("whsec_")
        assert rotated["secret"] != created["secret"]
        response = await client.delete(f"/v1/webhooks/{created['id']}", headers=customer.headers)
        assert response.status_code == 204
        assert (await client.get("/v1/webhooks", headers=customer.headers)).json()["data"] == []
        with db.read() as conn:
            (row,) = conn.execute(webhook_endpoints.select()).mappings().all()
        assert row["deleted_at"] is not None

    async def test_bad_changes_are_refused_and_change_nothing(self, client, operator: Operator):
        customer = operator.customer()
        created = (
            await client.post(
                "/v1/webhooks", json={"url": "https://a.example.com/"}, headers=customer.headers
            )
        ).json()
        for body in (
            {"url": "http://127.0.0.1/"},
            {"events": ["message.sent"]},
            {"events": []},
            {"statuses": "some"},
            {"secret": "mine"},
        ):
            response = await client.patch(
                f"/v1/webhooks/{created['id']}", json=body, headers=customer.headers
            )
            assert response.status_code == 422, (body, response.text)
        shown = (await client.get(f"/v1/webhooks/{created['id']}", headers=customer.headers)).json()
        assert (shown["url"], shown["statuses"], shown["enabled"]) == ("https://a.example.com/", "all", True)
        assert len(shown["events"]) == 4

    async def test_an_account_has_at_most_twenty_endpoints(self, client, operator: Operator):
        customer = operator.customer()
        for n in range(20):
            response = await client.post(
                "/v1/webhooks", json={"url": f"https://h{n}.example.com/"}, headers=customer.headers
            )
            assert response.status_code == 201
        refused = await client.post(
            "/v1/webhooks", json={"url": "https://one-more.example.com/"}, headers=customer.headers
        )
        assert refused.status_code == 422
        assert "at most 20" in refused.json()["detail"]


class TestNoChangeNoEvent:
    async def test_a_refused_send_makes_no_event(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        async with running(fast_settings) as (http, app):
            await running_simulator(app, db)
            customer = operator.customer(balance=10)
            await endpoint(http, customer, receiver.url)
            poor = await http.post(
                "/v1/messages",
                json={"to": DELIVERS, "text": "hi", "sender": "Qasid"},
                headers=customer.headers,
            )
            assert poor.status_code == 402
        assert deliveries(db, "pending") + deliveries(db, "delivered") == 0
        assert receiver.calls == []


class TestFormats:
    async def test_a_dialects_own_format_is_sent_retried_and_recorded_like_any_delivery(
        self, fast_settings, operator: Operator, db, receiver: Receiver
    ):
        def as_query(call: Call) -> Outgoing:
            data = json.loads(call.payload)["data"]
            query = urlencode({"smsID": data["id"], "statusID": data["status"], "date": call.at.isoformat()})
            return Outgoing("GET", f"{call.url}?{query}", {}, None)

        answers = iter([500, 200])

        async def answer(_request: HttpRequest) -> HttpResponse:
            return HttpResponse(next(answers))

        receiver.answer = answer
        register("test-query", as_query)
        try:
            async with running(fast_settings):
                customer = operator.customer()
                with db.write() as conn:
                    data = {"id": "msg_x", "status": "delivered"}
                    own = Callback(receiver.url, format="test-query")
                    event = Event(
                        EventType.MESSAGE_STATUS, customer.account.id, "msg_x", 6, data, callback=own
                    )
                    publish(conn, [event], datetime.now(UTC))
                await wait_for(lambda: deliveries(db, "delivered") == 1)
        finally:
            FORMATS.pop("test-query")
        assert [(c.method, c.query["smsID"], c.query["statusID"]) for c in receiver.calls] == [
            ("GET", ["msg_x"], ["delivered"]),
            ("GET", ["msg_x"], ["delivered"]),
        ]
