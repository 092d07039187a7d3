"""The WhatsApp Cloud API emulator checked against the documented API: sends, errors, signed status
webhooks to a receiver of our own, and the GET verification handshake."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.emulators.whatsapp import WhatsAppCloud
from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer

TOKEN = "tok"
SECRET = "appsecret"
PHONE_ID = "1234567890"
VERIFY = "verifytoken"
TLS = ssl.create_default_context()  # built once: each httpx client would otherwise load the CA bundle


def otp(to: str, code: str = "482913", *, name: str = "qasid_otp", language: str = "en") -> dict[str, Any]:
    """An authentication template with a copy-code button, as "Sending authentication templates" shows."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": code}],
                },
            ],
        },
    }


class Receiver:
    """A webhook endpoint: answers the verification GET, keeps every POST, answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[HttpRequest] = []
        self.status = 200

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            if request.param("hub.mode") == "subscribe" and request.param("hub.verify_token") == VERIFY:
                return HttpResponse(200, (request.param("hub.challenge") or "").encode())
            return HttpResponse(403)
        self.posts.append(request)
        return HttpResponse(self.status)

    def statuses(self) -> list[dict[str, Any]]:
        return [
            json.loads(post.body)["entry"][0]["changes"][0]["value"]["statuses"][0] for post in self.posts
        ]


def signed_by_app_secret(post: HttpRequest) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(post.headers["x-hub-signature-256"], expected)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    async with LocalHttpServer(endpoint) as server:
        yield endpoint, f"{server.base_url}/webhooks/whatsapp"


@pytest.fixture
async def wa(receiver: tuple[Receiver, str]) -> AsyncIterator[WhatsAppCloud]:
    cloud = WhatsAppCloud(token=TOKEN, app_secret=SECRET, phone_number_id=PHONE_ID, verify_token=VERIFY,
                          templates={"qasid_otp": ["en", "ar"]}, status_delay=0.01)  # fmt: skip
    async with cloud:
        cloud.webhook_url = receiver[1]
        yield cloud


@pytest.fixture
async def client(wa: WhatsAppCloud) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=wa.base_url, headers=headers, timeout=5.0, verify=TLS) as http:
        yield http


async def test_a_good_send_answers_a_wamid_then_signed_sent_and_delivered_webhooks(
    wa: WhatsAppCloud, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    endpoint, _ = receiver
    response = await client.post(f"/v21.0/{PHONE_ID}/messages", json=otp("+15551234567"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+15551234567", "wa_id": "15551234567"}]
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert answer["messages"][0]["message_status"] == "accepted"
    assert wa.messages[wamid].code == "482913"
    assert wa.requests[0].headers["authorization"] == f"Bearer {TOKEN}"

    await wa.wait_for(lambda: len(endpoint.posts) == 2, within=2.0)
    assert all(signed_by_app_secret(post) for post in endpoint.posts)
    sent, delivered = endpoint.statuses()
    assert (sent["status"], delivered["status"]) == ("sent", "delivered")
    assert sent["id"] == delivered["id"] == wamid
    assert sent["recipient_id"] == "15551234567"
    assert sent["timestamp"].isdigit()
    assert sent["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "authentication",
    }
    assert sent["conversation"]["origin"] == {"type": "authentication"}  # only before v24.0
    payload = json.loads(endpoint.posts[0].body)
    assert payload["object"] == "whatsapp_business_account"
    assert payload["entry"][0]["changes"][0]["field"] == "messages"
    assert payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == PHONE_ID
    assert [delivery.status for delivery in wa.deliveries] == [200, 200]


async def test_from_v24_the_conversation_object_is_omitted(
    wa: WhatsAppCloud, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    endpoint, _ = receiver
    response = await client.post(f"/v24.0/{PHONE_ID}/messages", json=otp("966501234567", language="ar"))
    assert response.status_code == 200

    await wa.wait_for(lambda: len(endpoint.posts) == 2, within=2.0)
    assert all("conversation" not in status and "pricing" in status for status in endpoint.statuses())


async def test_a_wrong_token_is_401_with_code_190(wa: WhatsAppCloud, client: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer expired"}, {"Authorization": ""}):
        response = await client.post(f"/v21.0/{PHONE_ID}/messages", json=otp("15551234567"), headers=headers)

        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["code"], error["type"]) == (190, "OAuthException")
        assert error["fbtrace_id"]
    assert wa.messages == {}


async def test_an_unknown_phone_number_id_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v21.0/999/messages", json=otp("15551234567"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


@pytest.mark.parametrize(("name", "language"), [("qasid_otp", "fr"), ("qasid_login", "en")])
async def test_a_template_missing_in_that_language_is_404_with_132001(
    client: httpx.AsyncClient, name: str, language: str
) -> None:
    response = await client.post(
        f"/v21.0/{PHONE_ID}/messages", json=otp("15551234567", name=name, language=language)
    )

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 132001
    assert error["message"] == "(#132001) Template name does not exist in the translation"
    details = f"template name ({name}) does not exist in {language}"
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": details}


def without_button(body: dict[str, Any]) -> None:
    del body["template"]["components"][1]


def two_body_parameters(body: dict[str, Any]) -> None:
    body["template"]["components"][0]["parameters"].append({"type": "text", "text": "x"})


def another_code_in_the_button(body: dict[str, Any]) -> None:
    body["template"]["components"][1]["parameters"][0]["text"] = "000000"


def a_number_parameter(body: dict[str, Any]) -> None:
    body["template"]["components"][0]["parameters"][0] = {"type": "currency", "currency": {}}


def not_whatsapp(body: dict[str, Any]) -> None:
    body["messaging_product"] = "sms"


def letters_in_to(body: dict[str, Any]) -> None:
    body["to"] = "call-me"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (without_button, 131008),
        (two_body_parameters, 132000),
        (another_code_in_the_button, 131009),
        (a_number_parameter, 132012),
        (not_whatsapp, 100),
        (letters_in_to, 131009),
    ],
)
async def test_a_send_that_does_not_fit_the_template_is_400(
    client: httpx.AsyncClient, change: Any, code: int
) -> None:
    body = otp("15551234567")
    change(body)
    response = await client.post(f"/v21.0/{PHONE_ID}/messages", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_a_number_ending_in_3_fails_by_webhook_with_131026(
    wa: WhatsAppCloud, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    endpoint, _ = receiver
    response = await client.post(f"/v21.0/{PHONE_ID}/messages", json=otp("15551234563"))
    assert response.status_code == 200

    await wa.wait_for(lambda: len(endpoint.posts) == 1, within=2.0)
    assert signed_by_app_secret(endpoint.posts[0])
    [failed] = endpoint.statuses()
    assert failed["status"] == "failed"
    assert failed["id"] == response.json()["messages"][0]["id"]
    [error] = failed["errors"]
    assert (error["code"], error["title"]) == (131026, "Message undeliverable")
    assert error["error_data"]["details"]
    assert "pricing" not in failed


async def test_a_number_ending_in_4_is_refused_and_one_ending_in_9_stays_silent(
    wa: WhatsAppCloud, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    endpoint, _ = receiver
    refused = await client.post(f"/v21.0/{PHONE_ID}/messages", json=otp("15551234564"))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 131030

    silent = await client.post(f"/v21.0/{PHONE_ID}/messages", json=otp("15551234569"))
    assert silent.status_code == 200
    await asyncio.sleep(wa.status_delay * 5)
    assert endpoint.posts == []
    assert wa.deliveries == []


async def test_injected_failures_come_before_the_sends_that_work(
    wa: WhatsAppCloud, client: httpx.AsyncClient
) -> None:
    wa.fail_next(429, 130429)
    wa.fail_next(500, 131000)
    url = f"/v21.0/{PHONE_ID}/messages"

    first, second, third = [await client.post(url, json=otp("15551234567")) for _ in range(3)]

    assert (first.status_code, first.json()["error"]["code"]) == (429, 130429)
    assert first.json()["error"]["message"] == "(#130429) Rate limit hit"
    assert (second.status_code, second.json()["error"]["code"]) == (500, 131000)
    assert third.status_code == 200
    wa.rate_limited = True
    assert (await client.post(url, json=otp("15551234567"))).status_code == 429
    wa.rate_limited, wa.pair_rate_limit = False, 60.0
    limited = await client.post(url, json=otp("15551234567"))
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, 131056)
    assert [r.status for r in wa.requests] == [429, 500, 200, 429, 429]


async def test_statuses_by_hand_are_signed_over_the_exact_bytes_and_retried(
    wa: WhatsAppCloud, receiver: tuple[Receiver, str]
) -> None:
    endpoint, _ = receiver
    assert wa.sign(b"{}") == "sha256=" + hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest()

    read = await wa.post_status("wamid.ABC", "read", recipient_id="15551234567")
    assert read.ok
    assert endpoint.statuses()[0]["status"] == "read"

    endpoint.status, wa.webhook_retries = 500, 2
    failed = await wa.post_status("wamid.ABC", "failed", [131047])
    assert (failed.status, failed.attempt) == (500, 3)
    assert [post.body for post in endpoint.posts[1:]] == [failed.body] * 3
    assert all(signed_by_app_secret(post) for post in endpoint.posts)
    assert endpoint.statuses()[1]["errors"][0]["code"] == 131047

    endpoint.status = 200
    again = await wa.redeliver(read)
    assert again.ok
    assert again.body == read.body


async def test_the_verification_handshake_echoes_the_challenge(wa: WhatsAppCloud) -> None:
    assert await wa.verify_handshake(challenge="1158201444")
    assert not await wa.verify_handshake(verify_token="wrong")

    ok, refused = wa.handshakes
    assert (ok.status, ok.answer) == (200, "1158201444")
    assert refused.status == 403


async def test_webhooks_go_through_a_given_client_and_are_dropped_without_a_url() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(app)) as in_process,
        WhatsAppCloud(webhook_client=in_process, webhook_url="http://qasid/webhooks/whatsapp") as cloud,
    ):
        delivery = await cloud.post_status("wamid.XYZ", "delivered", recipient_id="15551234567")
        cloud.webhook_url = None
        dropped = await cloud.post_status("wamid.XYZ", "read", recipient_id="15551234567")

    assert delivery.ok
    assert [str(request.url) for request in seen] == ["http://qasid/webhooks/whatsapp"]
    assert seen[0].headers["x-hub-signature-256"] == delivery.signature
    assert (dropped.status, dropped.error) == (None, "no webhook_url set: nothing was sent")
