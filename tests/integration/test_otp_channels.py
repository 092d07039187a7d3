"""Verifications over WhatsApp and Telegram, and the fallback from one channel to the next.

WhatsApp's Cloud API and Telegram's Gateway API cannot be reached from here: the connectors talk to
faithful local emulators of their documented APIs (tests/emulators), which also send the signed
status callbacks back into the gateway. SMS goes through the carrier simulator."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from qasid.api.app import create_app
from qasid.billing.records import Price
from qasid.optout import service as optout
from qasid.optout.records import ListKind
from qasid.routing import service as routing
from tests.emulators.telegram import TelegramGateway
from tests.emulators.whatsapp import WhatsAppCloud
from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer
from tests.integration.test_verifications import check, codes_received, create
from tests.support import Customer, Operator, running_simulator, vault, wait_for

TIMEOUT = 0.5  # seconds a channel has before the next one takes over, in these tests


@asynccontextmanager
async def forwarder(http: AsyncClient):
    """A real HTTP address for callbacks that must come over the network (Telegram's), passing each
    request on to the in-process gateway."""

    async def forward(request: HttpRequest) -> HttpResponse:
        answer = await http.request(
            request.method, request.target, content=request.body, headers=request.headers
        )
        return HttpResponse(status=answer.status_code, body=answer.content)

    async with LocalHttpServer(forward) as server:
        yield server


class Stack:
    """The gateway with SMS (simulator), WhatsApp and Telegram connectors, and priced channels."""

    def __init__(self, http, app, db, wa: WhatsAppCloud, tg: TelegramGateway, operator: Operator) -> None:
        self.http, self.app, self.db, self.wa, self.tg, self.operator = http, app, db, wa, tg, operator

    def customer(self) -> Customer:
        customer = self.operator.customer(balance=10_000, price=20)
        for channel, price in (("whatsapp", 30), ("telegram", 10)):
            self.operator.set_price(Price(customer.account.id, "*", "*", channel, "IQD", price))
        return customer

    async def status(self, customer: Customer, verification_id: str) -> dict:
        return (await self.http.get(f"/v1/verifications/{verification_id}", headers=customer.headers)).json()


async def add_running(app, db, kind: str, name: str, config: dict) -> str:
    now = datetime.now(UTC)
    with db.write() as conn:
        record = routing.add_connector(conn, kind, name, config, now, vault=vault())
        routing.add_route(conn, record.id, now, channel=record.channel)
    links = app.state.services.worker.links
    await wait_for(lambda: record.id in links.running)
    return record.id


@pytest.fixture
def channel_timeout() -> float:
    return TIMEOUT  # a test may parametrize another


@pytest.fixture
async def stack(fast_settings, db, operator: Operator, channel_timeout: float):
    settings = fast_settings.model_copy(update={"otp_channel_timeout_seconds": channel_timeout})
    app = create_app(settings, role="serve")
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://qasid.test") as http,
        WhatsAppCloud(templates={"qasid_otp": ["en", "ar"]}, webhook_client=http) as wa,
        TelegramGateway(token="tgtoken") as tg,
        forwarder(http) as door,
    ):
        wa.webhook_url = "http://qasid.test/webhooks/whatsapp/wa"
        await running_simulator(app, db)
        await add_running(app, db, "whatsapp", "wa", {
            "phone_number_id": wa.phone_number_id, "token": "tok", "app_secret": "appsecret",
            "verify_token": "verifytoken", "base_url": wa.base_url,
        })  # fmt: skip
        await add_running(app, db, "telegram", "tg", {
            "token": "tgtoken", "base_url": tg.base_url, "check_send_ability": True,
            "callback_url": f"{door.base_url}/webhooks/telegram/tg",
        })  # fmt: skip
        yield Stack(http, app, db, wa, tg, operator)


def whatsapp_code(wa: WhatsAppCloud, to: str) -> str:
    [request] = [r for r in wa.requests if r.body and r.body.get("to") == to.lstrip("+")]
    body, button = request.body["template"]["components"]
    assert body["parameters"][0]["text"] == button["parameters"][0]["text"]
    return body["parameters"][0]["text"]


class TestWhatsApp:
    async def test_the_code_goes_by_authentication_template_and_delivery_holds_off_the_fallback(
        self, stack: Stack
    ):
        customer = stack.customer()
        to = "+9647701234561"
        created = await create(stack.http, customer, to=to, channels=["whatsapp", "sms"], locale="ar")
        assert created["channel"] == "whatsapp"

        async def delivered():
            detail = await stack.status(customer, created["id"])
            return detail if detail["send_history"][0]["status"] == "delivered" else None

        detail = await wait_for(delivered)
        request = next(r for r in stack.wa.requests if r.body)
        assert request.body["template"]["name"] == "qasid_otp"
        assert request.body["template"]["language"] == {"code": "ar"}
        code = whatsapp_code(stack.wa, to)
        await asyncio.sleep(TIMEOUT * 3)  # past the fallback's time: it must find the code delivered
        detail = await stack.status(customer, created["id"])
        assert [s["channel"] for s in detail["send_history"]] == ["whatsapp"]  # no SMS after all
        assert (await check(stack.http, customer, created["id"], code))["status"] == "approved"
        assert stack.operator.account(customer.account.id).balance == 10_000 - 30  # WhatsApp's price

    @pytest.mark.parametrize("channel_timeout", [120.0])  # "at once": long before the channel's time
    async def test_an_undeliverable_number_falls_back_to_sms_at_once_with_the_same_code(self, stack: Stack):
        customer = stack.customer()
        to = "+9647701234563"  # the emulator fails it with 131026
        created = await create(stack.http, customer, to=to, channels=["whatsapp", "sms"])

        async def on_sms():
            detail = await stack.status(customer, created["id"])
            return detail if len(detail["send_history"]) == 2 else None

        detail = await wait_for(on_sms, within=10)
        assert detail["channel"] == "sms"
        assert [s["channel"] for s in detail["send_history"]] == ["whatsapp", "sms"]
        failed = (await stack.http.get(f"/v1/messages/{detail['send_history'][0]['message_id']}",
                                       headers=customer.headers)).json()  # fmt: skip
        assert (failed["status"], failed["error_code"]) == ("undelivered", "131026")
        [sms_code] = await codes_received(stack.http, stack.db, customer, created["id"])
        assert sms_code == whatsapp_code(stack.wa, to)
        assert (await check(stack.http, customer, created["id"], sms_code))["status"] == "approved"

    async def test_the_fallback_sms_goes_to_a_number_that_sent_stop_as_the_first_send_does(
        self, stack: Stack
    ):
        customer = stack.customer()
        to = "+9647701234563"  # the emulator fails it with 131026
        with stack.db.write() as conn:  # they once sent STOP; a code they ask for still reaches them
            optout.add(
                conn, customer.account.id, to, ListKind.STOP, datetime.now(UTC), source="sms", note=None
            )
        created = await create(stack.http, customer, to=to, channels=["whatsapp", "sms"])
        [sms_code] = await codes_received(stack.http, stack.db, customer, created["id"])
        assert sms_code == whatsapp_code(stack.wa, to)

    async def test_a_refused_send_falls_back_and_a_silent_channel_times_out(self, stack: Stack):
        customer = stack.customer()
        refused = await create(stack.http, customer, to="+9647701234564", channels=["whatsapp", "sms"])
        silent = await create(stack.http, customer, to="+9647701234569", channels=["whatsapp", "sms"])
        started = time.monotonic()
        for verification in (refused, silent):

            async def fell_back(verification=verification):
                return (await stack.status(customer, verification["id"]))["channel"] == "sms"

            await wait_for(fell_back)
        assert time.monotonic() - started >= TIMEOUT * 0.8  # the silent one waited for its timeout
        detail = await stack.status(customer, refused["id"])
        first = (await stack.http.get(f"/v1/messages/{detail['send_history'][0]['message_id']}",
                                      headers=customer.headers)).json()  # fmt: skip
        assert (first["status"], first["error_code"]) == ("failed", "WA_131030")

    async def test_forged_webhooks_and_handshakes_are_refused(self, stack: Stack):
        customer = stack.customer()
        created = await create(stack.http, customer, to="+9647701234569", channels=["whatsapp"])

        async def recorded_sent() -> bool:  # Meta has it, and the gateway has written down its answer
            detail = await stack.status(customer, created["id"])
            return bool(stack.wa.sent) and detail["send_history"][0]["status"] == "sent"

        await wait_for(recorded_sent)
        [wamid] = [m.wamid for m in stack.wa.sent]
        payload = stack.wa.status_payload(wamid, "delivered")
        body = httpx.Request("POST", "/", json=payload).content
        forged = await stack.http.post(
            "/webhooks/whatsapp/wa", content=body,
            headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"},
        )  # fmt: skip
        assert forged.status_code == 401
        detail = await stack.status(customer, created["id"])
        assert detail["send_history"][0]["status"] == "sent"  # not delivered
        assert await stack.wa.verify_handshake()
        assert not await stack.wa.verify_handshake(verify_token="wrong")
        unknown = await stack.http.get("/webhooks/whatsapp/nobody?hub.mode=subscribe&hub.verify_token=x")
        assert unknown.status_code == 404


class TestWhatsAppInbound:
    async def test_a_users_text_to_the_business_number_is_an_inbound_message_of_its_owner(self, stack: Stack):
        stack.wa.display_phone_number = "9647700000099"  # Meta's test number is no valid sender
        number = "+" + stack.wa.display_phone_number
        owner = stack.operator.customer(senders_approved=("Qasid", number))
        delivery = await stack.wa.post_message("9647701112233", "STOP")
        assert delivery.ok
        listed = (await stack.http.get("/v1/inbound-messages", headers=owner.headers)).json()["data"]
        assert [(m["from"], m["to"], m["text"]) for m in listed] == [("+9647701112233", number, "STOP")]
        stopped = (await stack.http.get("/v1/stop-list", headers=owner.headers)).json()["data"]
        assert [e["number"] for e in stopped] == ["+9647701112233"]

    async def test_a_forged_message_is_refused_and_stores_nothing(self, stack: Stack):
        stack.wa.display_phone_number = "9647700000099"
        owner = stack.operator.customer(senders_approved=("Qasid", "+" + stack.wa.display_phone_number))
        body = json.dumps(stack.wa.message_payload("9647701112233", "hello")).encode()
        response = await stack.http.post(
            "/webhooks/whatsapp/wa",
            content=body,
            headers={"x-hub-signature-256": "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()},
        )
        assert response.status_code == 401
        assert (await stack.http.get("/v1/inbound-messages", headers=owner.headers)).json()["data"] == []


class TestTelegram:
    async def test_the_code_goes_through_the_gateway_api_and_its_signed_report_delivers_it(
        self, stack: Stack
    ):
        customer = stack.customer()
        created = await create(stack.http, customer, to="+9647701234561", channels=["telegram", "sms"])

        async def delivered():
            detail = await stack.status(customer, created["id"])
            return detail if detail["send_history"][0]["status"] == "delivered" else None

        await wait_for(delivered)
        [sent] = stack.tg.sent
        assert sent.payload == (await stack.status(customer, created["id"]))["send_history"][0]["message_id"]
        assert 30 <= sent.ttl <= 600
        assert [r.method for r in stack.tg.requests] == ["checkSendAbility", "sendVerificationMessage"]
        assert all(d.http_status == 200 for d in stack.tg.deliveries)
        assert (await check(stack.http, customer, created["id"], sent.code))["status"] == "approved"

    async def test_a_number_telegram_cannot_reach_falls_back_to_sms(self, stack: Stack):
        customer = stack.customer()
        created = await create(stack.http, customer, to="+9647701234563", channels=["telegram", "sms"])

        async def on_sms():
            return (await stack.status(customer, created["id"]))["channel"] == "sms"

        await wait_for(on_sms)
        detail = await stack.status(customer, created["id"])
        first = (await stack.http.get(f"/v1/messages/{detail['send_history'][0]['message_id']}",
                                      headers=customer.headers)).json()  # fmt: skip
        assert (first["status"], first["error_code"]) == ("failed", "PHONE_NUMBER_NOT_FOUND")
        [code] = await codes_received(stack.http, stack.db, customer, created["id"])
        assert (await check(stack.http, customer, created["id"], code))["status"] == "approved"

    async def test_stale_or_forged_reports_are_refused(self, stack: Stack):
        body = b'{"request_id":"x","delivery_status":{"status":"delivered","updated_at":1}}'
        key = hashlib.sha256(b"tgtoken").digest()
        stale = str(int(time.time()) - 3600)
        good_but_stale = hmac.new(key, stale.encode() + b"\n" + body, hashlib.sha256).hexdigest()
        now = str(int(time.time()))
        for stamp, signature in ((stale, good_but_stale), (now, "0" * 64), ("", "")):
            answer = await stack.http.post(
                "/webhooks/telegram/tg", content=body,
                headers={"X-Request-Timestamp": stamp, "X-Request-Signature": signature},
            )  # fmt: skip
            assert answer.status_code == 401


class TestWorkflow:
    async def test_three_channels_in_turn_each_after_its_timeout(self, stack: Stack):
        customer = stack.customer()
        to = "+9647701234569"  # silent on WhatsApp and on Telegram
        created = await create(stack.http, customer, to=to, channels=["whatsapp", "telegram", "sms"])

        async def on_sms():
            detail = await stack.status(customer, created["id"])
            return detail if detail["channel"] == "sms" else None

        detail = await wait_for(on_sms, within=TIMEOUT * 2 + 5)
        assert [s["channel"] for s in detail["send_history"]] == ["whatsapp", "telegram", "sms"]
        codes = {whatsapp_code(stack.wa, to), stack.tg.sent[0].code,
                 *await codes_received(stack.http, stack.db, customer, created["id"])}  # fmt: skip
        assert len(codes) == 1
        assert stack.operator.account(customer.account.id).balance == 10_000 - 30 - 10 - 20

    async def test_verifications_created_together_each_fall_back(self, stack: Stack):
        customer = stack.customer()
        numbers = [f"+96477012350{i}9" for i in range(4)]  # silent on WhatsApp: each waits its timeout
        created = await asyncio.gather(  # at once: they share the writer's batches, and their fallback jobs
            *(create(stack.http, customer, to=to, channels=["whatsapp", "sms"]) for to in numbers)
        )

        async def all_on_sms():
            details = [await stack.status(customer, verification["id"]) for verification in created]
            return details if all(detail["channel"] == "sms" for detail in details) else None

        details = await wait_for(all_on_sms, within=TIMEOUT * 2 + 5)
        histories = [[send["channel"] for send in detail["send_history"]] for detail in details]
        assert histories == [["whatsapp", "sms"]] * 4

    async def test_a_channel_the_account_has_no_price_for_is_passed_over(self, stack: Stack):
        customer = stack.operator.customer(balance=10_000, price=20)
        stack.operator.set_price(
            Price(customer.account.id, "*", "*", "whatsapp", "IQD", 30)
        )  # no Telegram price
        created = await create(
            stack.http, customer, to="+9647701234563", channels=["whatsapp", "telegram", "sms"]
        )

        async def on_sms():
            detail = await stack.status(customer, created["id"])
            return detail if detail["channel"] == "sms" else None

        detail = await wait_for(on_sms)
        assert [s["channel"] for s in detail["send_history"]] == ["whatsapp", "sms"]
        assert stack.tg.sent == []

    async def test_a_workflow_starts_on_the_first_channel_the_account_can_pay_for(self, stack: Stack):
        customer = stack.operator.customer(balance=10_000, price=20)  # an SMS price only
        created = await create(stack.http, customer, to="+9647701234561", channels=["whatsapp", "sms"])
        assert created["channel"] == "sms"
        assert created["channels"] == ["whatsapp", "sms"]
        [code] = await codes_received(stack.http, stack.db, customer, created["id"])
        assert (await check(stack.http, customer, created["id"], code))["status"] == "approved"
        refused = await stack.http.post(
            "/v1/verifications",
            json={"to": "+9647701234571", "sender": "Qasid", "channels": ["whatsapp", "telegram"]},
            headers=customer.headers,
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "no_valid_recipients")
        assert refused.json()["invalid"][0]["reason"] == "no_price"
