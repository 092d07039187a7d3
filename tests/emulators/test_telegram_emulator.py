"""The Telegram Gateway emulator itself, driven with httpx as a connector would drive the real API.
Reports are received by a uvicorn server started here, and their signatures checked with the
documented scheme written out again, independently of the emulator's own ``sign``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.emulators.telegram import TelegramGateway

TOKEN = "tgtoken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+9647701234561"  # ends in 1: sent, then delivered


class Receiver:
    """A callback_url: records every POST and answers 200 (or the statuses queued in ``answers``)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.answers: deque[int] = deque()
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.posts.append((headers, body))
        status = self.answers.popleft() if self.answers else 200
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def tg() -> AsyncIterator[TelegramGateway]:
    async with TelegramGateway(token=TOKEN, balance=1.0, price=0.01, status_delay=0.02) as gateway:
        yield gateway


@pytest.fixture
async def api(tg: TelegramGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tg.base_url, timeout=5.0) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver()
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # at most 5 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    app.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/telegram/reports"
    yield app
    server.should_exit = True
    await asyncio.wait_for(task, 5)


def documented_signature(token: str, timestamp: str, raw_body: bytes) -> str:
    """https://core.telegram.org/gateway/api#checking-report-integrity, written out again."""
    secret_key = hashlib.sha256(token.encode()).digest()
    data_check_string = timestamp.encode() + b"\n" + raw_body
    return hmac.new(secret_key, data_check_string, hashlib.sha256).hexdigest()


async def call(api: httpx.AsyncClient, method: str, **params: Any) -> dict[str, Any]:
    response = await api.post(method, json=params, headers=AUTH)
    answer: dict[str, Any] = response.json()
    assert (response.status_code == 200) is answer["ok"], answer
    return answer


async def test_check_send_ability_then_a_free_send_with_its_request_id(
    tg: TelegramGateway, api: httpx.AsyncClient
) -> None:
    checked = await call(api, "checkSendAbility", phone_number=PHONE)
    assert checked["ok"] is True
    ability = checked["result"]
    assert ability["phone_number"] == PHONE
    assert ability["request_cost"] == 0.01
    assert ability["remaining_balance"] == 0.99  # charged in advance
    assert "delivery_status" not in ability

    # the same call as form fields, the token as the access_token parameter instead of the header
    form = {
        "access_token": TOKEN,
        "phone_number": PHONE.removeprefix("+"),
        "request_id": ability["request_id"],
        "code": "123456",
        "payload": "order-7",
    }
    sent = (await api.post("sendVerificationMessage", data=form)).json()
    assert sent["ok"] is True
    assert sent["result"]["request_id"] == ability["request_id"]
    assert sent["result"]["request_cost"] == 0.01
    assert "remaining_balance" not in sent["result"]  # nothing charged this time
    assert sent["result"]["payload"] == "order-7"
    assert tg.balance == 0.99
    assert tg.sent[-1].code == "123456"
    assert tg.calls("sendverificationmessage")[-1].params["request_id"] == ability["request_id"]

    again = await call(api, "sendVerificationMessage", phone_number=PHONE, request_id=ability["request_id"],
                       code="123456")  # fmt: skip
    assert again == {"ok": False, "error": "REQUEST_ID_INVALID"}
    assert len(tg.sent) == 1


async def test_signed_delivered_report_reaches_the_callback(
    tg: TelegramGateway, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    sent = await call(api, "sendVerificationMessage", phone_number=PHONE, code_length=6, ttl=60,
                      callback_url=receiver.url, payload="p1")  # fmt: skip
    request_id = sent["result"]["request_id"]

    await tg.wait_for(lambda: [d.status for d in tg.deliveries] == ["sent", "delivered"], within=3)
    assert [d.http_status for d in tg.deliveries] == [200, 200]
    headers, body = receiver.posts[-1]
    assert headers["content-type"] == "application/json"
    assert headers["x-request-signature"] == documented_signature(TOKEN, headers["x-request-timestamp"], body)
    assert headers["x-request-signature"] != documented_signature(
        "another", headers["x-request-timestamp"], body
    )
    report = json.loads(body)
    assert report["request_id"] == request_id
    assert report["delivery_status"]["status"] == "delivered"
    assert report["payload"] == "p1"
    assert tg.sign(headers["x-request-timestamp"], body) == headers["x-request-signature"]

    code = tg.message(request_id).code
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    invalid = await call(api, "checkVerificationStatus", request_id=request_id, code=wrong)
    assert invalid["result"]["verification_status"]["status"] == "code_invalid"
    valid = await call(api, "checkVerificationStatus", request_id=request_id, code=code)
    assert valid["result"]["verification_status"] == {
        "status": "code_valid",
        "updated_at": valid["result"]["verification_status"]["updated_at"],
        "code_entered": code,
    }
    assert valid["result"]["delivery_status"]["status"] == "delivered"


async def test_a_report_is_retried_until_the_receiver_answers_200(
    tg: TelegramGateway, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.answers.extend([500, 204])  # only 200 acknowledges, as documented
    silent = "+9647701234569"  # ends in 9: no report of its own
    sent = await call(
        api, "sendVerificationMessage", phone_number=silent, code="4321", callback_url=receiver.url
    )
    delivery = await tg.post_status(sent["result"]["request_id"], "read")
    assert delivery is not None
    assert [(d.status, d.http_status, d.attempt) for d in tg.deliveries] == [
        ("read", 500, 1),
        ("read", 204, 2),
        ("read", 200, 3),
    ]
    assert len(receiver.posts) == 3


async def test_a_bad_or_missing_token_is_refused(tg: TelegramGateway, api: httpx.AsyncClient) -> None:
    bad = await api.post(
        "checkSendAbility", json={"phone_number": PHONE}, headers={"Authorization": "Bearer nope"}
    )
    assert bad.json() == {"ok": False, "error": "ACCESS_TOKEN_INVALID"}
    missing = await api.get("checkSendAbility", params={"phone_number": PHONE})
    assert missing.json() == {"ok": False, "error": "ACCESS_TOKEN_REQUIRED"}
    assert tg.balance == 1.0
    assert len(tg.requests) == 2


async def test_a_number_that_cannot_receive_is_refused_free_of_charge(
    tg: TelegramGateway, api: httpx.AsyncClient
) -> None:
    unreachable = "+9647701234563"
    assert await call(api, "checkSendAbility", phone_number=unreachable) == {
        "ok": False,
        "error": "PHONE_NUMBER_NOT_FOUND",
    }
    refused = await call(api, "sendVerificationMessage", phone_number=unreachable, code="1234")
    assert refused == {"ok": False, "error": "PHONE_NUMBER_NOT_FOUND"}
    assert tg.balance == 1.0
    assert tg.sent == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code": "123"}, "CODE_INVALID"),
        ({"code": "123456789"}, "CODE_INVALID"),
        ({"code": "12a4"}, "CODE_INVALID"),
        ({"code_length": 9}, "CODE_LENGTH_INVALID"),
        ({}, "CODE_LENGTH_REQUIRED"),
        ({"code": "1234", "ttl": 29}, "TTL_INVALID"),
        ({"code": "1234", "payload": "x" * 129}, "PAYLOAD_INVALID"),
        ({"code": "1234", "callback_url": "http://example.com/r"}, "CALLBACK_URL_INVALID"),
        ({"code": "1234", "phone_number": "07701234561"}, "PHONE_NUMBER_INVALID"),
    ],
)
async def test_invalid_parameters_are_refused(
    tg: TelegramGateway, api: httpx.AsyncClient, params: dict[str, Any], error: str
) -> None:
    answer = await call(api, "sendVerificationMessage", **{"phone_number": PHONE, **params})
    assert answer == {"ok": False, "error": error}
    assert tg.balance == 1.0


async def test_balance_runs_out(tg: TelegramGateway, api: httpx.AsyncClient) -> None:
    tg.balance = 0.02
    first = await call(api, "sendVerificationMessage", phone_number=PHONE, code="1234")
    assert first["result"]["remaining_balance"] == 0.01
    assert (await call(api, "checkSendAbility", phone_number=PHONE))["result"]["remaining_balance"] == 0.0
    assert await call(api, "sendVerificationMessage", phone_number=PHONE, code="1234") == {
        "ok": False,
        "error": "BALANCE_NOT_ENOUGH",
    }
    assert len(tg.sent) == 1


async def test_expiry_refunds_and_silence_stays_silent(
    tg: TelegramGateway, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    expiring = await call(api, "sendVerificationMessage", phone_number="+9647701234567", code="1234",
                          callback_url=receiver.url)  # fmt: skip
    silent = await call(api, "sendVerificationMessage", phone_number="+9647701234569", code="1234",
                        callback_url=receiver.url)  # fmt: skip
    await tg.wait_for(lambda: [d.status for d in tg.deliveries] == ["sent", "expired"], within=3)
    report = json.loads(tg.deliveries[-1].body)
    assert report["is_refunded"] is True
    assert report["request_id"] == expiring["result"]["request_id"]
    assert tg.balance == 0.99  # one refunded, one still charged
    await asyncio.sleep(5 * tg.status_delay)
    assert all(d.request_id != silent["result"]["request_id"] for d in tg.deliveries)
    assert "delivery_status" not in tg.status_of(silent["result"]["request_id"])


async def test_faults(tg: TelegramGateway, api: httpx.AsyncClient) -> None:
    tg.fail_next("FLOOD_WAIT_5", status=429)
    flood = await api.post("checkSendAbility", json={"phone_number": PHONE}, headers=AUTH)
    assert (flood.status_code, flood.json()) == (429, {"ok": False, "error": "FLOOD_WAIT_5"})

    tg.fail_next_http(503)
    unavailable = await api.post("checkSendAbility", json={"phone_number": PHONE}, headers=AUTH)
    assert unavailable.status_code == 503
    assert not unavailable.headers["content-type"].startswith("application/json")

    tg.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        await api.post("checkSendAbility", json={"phone_number": PHONE}, headers=AUTH)

    assert tg.balance == 1.0  # none of them acted
    assert (await call(api, "CHECKSENDABILITY", phone_number=PHONE))["ok"] is True  # case-insensitive


async def test_revoke_before_delivery(tg: TelegramGateway, api: httpx.AsyncClient) -> None:
    silent = await call(api, "sendVerificationMessage", phone_number="+9647701234569", code="1234")
    request_id = silent["result"]["request_id"]
    assert await call(api, "revokeVerificationMessage", request_id=request_id) == {"ok": True, "result": True}
    status = await call(api, "checkVerificationStatus", request_id=request_id, code="1234")
    assert status["result"]["delivery_status"]["status"] == "revoked"
    assert status["result"]["verification_status"]["status"] == "expired"
    assert await call(api, "revokeVerificationMessage", request_id="nope") == {
        "ok": False,
        "error": "REQUEST_ID_INVALID",
    }
