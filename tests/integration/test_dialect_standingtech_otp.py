"""StandingTech's OTP API v4 dialect (seed 000): the seed's examples sent as written (with a test
account's key), a code sent over WhatsApp with SMS as the fallback, and the provider's numeric error
codes for the cases that produce them. WhatsApp and Telegram are the local emulators of
tests/emulators (no real peer can be reached from here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qasid.billing import service as billing
from qasid.billing.records import Price
from qasid.compat.standingtech.codes import CODES
from qasid.optout import service as optout
from qasid.optout.records import ListKind
from tests.integration.test_otp_channels import (  # noqa: F401 - the fixtures, with WhatsApp and Telegram
    Stack,
    channel_timeout,
    stack,
)
from tests.integration.test_verifications import codes_received
from tests.support import Customer, Operator, add_simulator, running_simulator, wait_for

V4 = "/standingtech/api/v4/sms/send"
V3 = "/standingtech/api/v3/sms/send"
DOCS = Path(__file__).parents[2] / "docs" / "migrating" / "standingtech.md"

WHATSAPP_EXAMPLE = """{
"recipient":"9647502171212",
"sender_id":"SenderID",
"type":"whatsapp",
"message":"123654",
"lang":"en"
}"""

# The seed's Guzzle and Curl examples post this to v3's send (the $now filled in).
GUZZLE_EXAMPLE = """{"recipient":"9647xxxxxxxxx",
"sender_id":"Standing",
"type":"plain",
"message":"This is a test message using Guzzle at 2026-12-06 10:00:00"
}"""


def seed_headers(customer: Customer) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {customer.key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def priced(operator: Operator, **extra: object) -> Customer:
    customer = operator.customer(balance=10_000, price=20, senders_approved=("SenderID", "Standing"), **extra)
    for channel, price in (("whatsapp", 30), ("telegram", 10)):
        operator.set_price(Price(customer.account.id, "*", "*", channel, "IQD", price))
    return customer


class TestSeedExamples:
    async def test_the_whatsapp_example_sends_the_given_code_by_template(self, stack: Stack):  # noqa: F811 - the fixture imported above
        customer = priced(stack.operator)
        response = await stack.http.post(
            V4, content=WHATSAPP_EXAMPLE.encode(), headers=seed_headers(customer)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        data = body["data"]
        assert (data["recipient"], data["type"], data["lang"], data["status"]) == (
            "9647502171212", "whatsapp", "en", "pending",
        )  # fmt: skip
        await wait_for(lambda: any(r.body and r.body.get("to") == "9647502171212" for r in stack.wa.requests))
        sent = next(r.body for r in stack.wa.requests if r.body and r.body.get("to") == "9647502171212")
        assert sent["template"]["components"][0]["parameters"][0]["text"] == "123654"

    async def test_the_guzzle_example_as_written_names_its_placeholder_number(self, client, operator):
        customer = priced(operator)
        response = await client.post(V3, content=GUZZLE_EXAMPLE.encode(), headers=seed_headers(customer))
        assert response.status_code == 422
        assert response.json()["status"] == "error"
        assert "9647xxxxxxxxx" in response.json()["message"]
        real = await client.post(
            V3, content=GUZZLE_EXAMPLE.replace("9647xxxxxxxxx", "9647701234567").encode(),
            headers=seed_headers(customer),
        )  # fmt: skip
        assert (real.status_code, real.json()["data"]["to"]) == (200, "9647701234567")


class TestFallback:
    async def test_plain_sends_the_code_by_sms(self, gateway, db, operator):
        http, app = gateway
        await running_simulator(app, db)
        customer = priced(operator)
        body = {"recipient": "9647701234567", "sender_id": "SenderID", "type": "plain", "message": "48213"}
        response = await http.post(V4, json=body, headers=seed_headers(customer))
        assert response.status_code == 200, response.text
        made = response.json()["data"]
        assert (made["type"], made["channels"]) == ("plain", ["sms"])
        assert await codes_received(http, db, customer, made["id"]) == ["48213"]

    async def test_whatsapp_with_sms_fallback_is_one_verification_over_both(self, stack: Stack):  # noqa: F811 - the fixture imported above
        customer = priced(stack.operator)
        body = {"recipient": "9647701234562", "sender_id": "SenderID", "type": "whatsapp", "message": "5521",
                "fallback": "sms"}  # fmt: skip
        response = await stack.http.post(V4, json=body, headers=seed_headers(customer))
        assert response.json()["data"]["channels"] == ["whatsapp", "sms"]


ERRORS = [
    ({"type": "voice"}, 422, 1217),
    ({"type": ""}, 422, 1012),
    ({"fallback": "pigeon"}, 422, 1013),
    ({"type": "whatsapp", "fallback": "whatsapp"}, 422, 1218),
    ({"recipient": ""}, 422, 1207),
    ({"recipient": "9647"}, 422, 1216),
    ({"recipient": "abc"}, 422, 1204),
    ({"sender_id": None}, 422, 1209),
    ({"sender_id": "MuchTooLongSender"}, 422, 1206),
    ({"sender_id": "Bad_Sender!"}, 422, 1205),
    ({"sender_id": "Stranger"}, 422, 1106),
    ({"message": ""}, 422, 1203),
    ({"message": "Auto"}, 422, 1010),
    ({"message": "12ab"}, 422, 1201),
    ({"lang": "fr"}, 422, 1201),
    ({"template_id": "42"}, 422, 1215),
]


@pytest.fixture
def routed(db) -> None:
    """A route for SMS (the API checks a workflow's channels have one)."""
    add_simulator(db)


@pytest.mark.usefixtures("routed")
class TestErrorCodes:
    @pytest.mark.parametrize(("change", "status", "code"), ERRORS)
    async def test_a_bad_request_gets_its_code_and_sends_nothing(
        self, client, operator, change, status, code
    ):
        customer = priced(operator)
        body = {"recipient": "9647701234567", "sender_id": "SenderID", "type": "plain", "message": "123654"}
        body = {k: v for k, v in {**body, **change}.items() if v is not None}
        response = await client.post(V4, json=body, headers=seed_headers(customer))
        assert response.status_code == status, response.text
        found = response.json()
        assert (found["status"], found["code"]) == ("error", code), found
        assert found["message"].startswith(CODES[code])
        assert operator.account(customer.account.id).balance == 10_000

    async def test_keys_json_money_and_the_block_list(self, client, operator, db):
        customer = priced(operator)
        poor = priced(operator, name="poor")
        with db.write() as conn:
            now = datetime.now(UTC)
            optout.add(
                conn, customer.account.id, "+9647701234599", ListKind.BLOCK, now, source="api", note=None
            )
            billing.add_credit(conn, operator.account(poor.account.id), -9_999, now)
        body = {"recipient": "9647701234567", "sender_id": "SenderID", "type": "plain", "message": "123654"}
        headers = {"Content-Type": "application/json"}
        results = [
            await client.post(V4, json=body, headers=headers),
            await client.post(V4, json=body, headers={**headers, "Authorization": "Bearer {{API_KEY}}"}),
            await client.post(V4, content=b'{"recipient":', headers=seed_headers(customer)),
            await client.post(V4, json=body, headers=seed_headers(poor)),
            await client.post(
                V4, json={**body, "recipient": "9647701234599"}, headers=seed_headers(customer)
            ),
        ]
        assert [(r.status_code, r.json()["code"]) for r in results] == [
            (401, 1002), (401, 1101), (400, 1202), (402, 1503), (422, 1208),
        ]  # fmt: skip

    async def test_no_such_path_and_a_wrong_method_answer_in_the_dialect(self, client, operator):
        customer = priced(operator)
        wrong_method = await client.get(V4, headers=seed_headers(customer))
        no_path = await client.post("/standingtech/api/v5/sms/send", json={}, headers=seed_headers(customer))
        v3_no_path = await client.get("/standingtech/api/v3/nothing", headers=seed_headers(customer))
        assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, 1007)
        assert (no_path.status_code, no_path.json()["status"]) == (404, "error")
        assert v3_no_path.json() == {"status": "error", "message": "Resource not found"}
        native = await client.get("/v1/nothing", headers=customer.headers)
        assert native.json()["code"] == "not_found"  # outside the prefixes, the native problem

    async def test_a_third_otp_to_one_number_in_30_seconds_is_1907(self, client, operator):
        customer = priced(operator)
        body = {"recipient": "9647701234567", "sender_id": "SenderID", "type": "plain", "message": "123654"}
        for _ in range(2):
            made = (await client.post(V4, json=body, headers=seed_headers(customer))).json()["data"]
            await client.post(f"/v1/verifications/{made['id']}/cancel", headers=customer.headers)
        third = await client.post(V4, json=body, headers=seed_headers(customer))
        assert (third.status_code, third.json()["code"]) == (429, 1907)


def test_the_docs_account_for_every_code():
    """docs/migrating/standingtech.md has a row for each of the provider's codes."""
    rows = set(re.findall(r"^\| (\d{4}) \|", DOCS.read_text(), flags=re.MULTILINE))
    assert rows == {str(code) for code in CODES}
