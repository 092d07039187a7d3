"""The FullSMS dialect (seed 004): every example request of the document sent as written (with a test
account's key), the documented answers, and each documented error body for the case that gives it.
Where the document's own example values are not real numbers, the test says so and sends real ones
as well."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from qasid.billing.records import Price
from qasid.numbers import service as numbers
from tests.integration.test_verifications import codes_received
from tests.support import Customer, Operator, add_simulator, running_simulator

BASE = "/fullsms"
SEED_KEY = "Bearer 20|YLuvWkTILYKhq365kCuXQW1aCqJe71BbKgzqsGlq"
NUMBER = "+447400123456"  # the account's long number (the seed's 441111111111 is not a valid number)


def seed_headers(customer: Customer) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {customer.key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


@dataclass
class Account:
    customer: Customer
    list_id: str
    template_id: str

    @property
    def headers(self) -> dict[str, str]:
        return seed_headers(self.customer)


@pytest.fixture
async def account(client: httpx.AsyncClient, operator: Operator, db) -> Account:
    """An account as the seed's examples suppose: 100 of balance, the sender ID COPERATO, a number,
    a list of one contact and a template."""
    customer = operator.customer(balance=100, price=20, senders_approved=("COPERATO",))
    with db.write() as conn:
        now = datetime.now(UTC)
        numbers.add(conn, NUMBER, now)
        numbers.assign(conn, NUMBER, customer.account.id, now)
    made = (
        await client.post("/v1/contact-lists", json={"name": "yourlistName"}, headers=customer.headers)
    ).json()
    await client.post(f"/v1/contact-lists/{made['id']}/contacts", json={"number": "+9647701234567"},
                      headers=customer.headers)  # fmt: skip
    template = (await client.post("/v1/templates", json={"name": "yourTemplateName", "body": "Hello World"},
                                  headers=customer.headers)).json()  # fmt: skip
    return Account(customer, made["id"], template["id"])


class TestAccount:
    async def test_balance(self, client, account):
        response = await client.get(f"{BASE}/account/balance", headers=account.headers)
        assert (response.status_code, response.json()) == (200, {"balance": 100})

    async def test_numbers(self, client, account):
        response = await client.get(f"{BASE}/account/numbers", headers=account.headers)
        assert response.json() == {
            "total_numbers": 1,
            "numbers": [{"number": "447400123456", "country": "GB"}],
        }

    async def test_lists(self, client, account):
        response = await client.get(f"{BASE}/account/lists", headers=account.headers)
        assert response.json() == {
            "total_lists": 1,
            "lists": [{"list_id": account.list_id, "name": "yourlistName", "subscribe_word": None,
                       "subscribed_contacts": 1}],
        }  # fmt: skip

    async def test_sender_ids(self, client, account):
        response = await client.get(f"{BASE}/account/senderids", headers=account.headers)
        assert response.json() == {"total_senderids": 1, "senderids": ["COPERATO"]}

    async def test_templates(self, client, account):
        response = await client.get(f"{BASE}/account/templates", headers=account.headers)
        assert response.json() == {
            "total_templates": 1,
            "templates": [
                {"template_id": account.template_id, "name": "yourTemplateName", "content": "Hello World"}
            ],
        }

    async def test_a_missing_or_unknown_key_gets_the_authentication_body(self, client):
        missing = await client.get(f"{BASE}/account/balance")
        unknown = await client.get(f"{BASE}/account/balance", headers={"Authorization": SEED_KEY})
        for response in (missing, unknown):
            assert (response.status_code, response.json()) == (
                403, {"status_code": 403, "message": "Unauthenticated - Missing/Invalid API key"},
            )  # fmt: skip

    async def test_a_suspended_account_is_access_denied(self, client, account, operator):
        operator.suspend(account.customer.account.id)
        response = await client.get(f"{BASE}/account/balance", headers=account.headers)
        assert (response.status_code, response.json()) == (
            403,
            {"status_code": 403, "message": "Access Denied"},
        )


def forbidden(message: str) -> dict[str, object]:
    return {"status_code": 403, "message": message}


def unprocessable(field: str, message: str) -> dict[str, object]:
    return {"message": "422 Unprocessable Content", "errors": {field: [message]}, "status_code": 422}


def later(days: int = 1) -> str:
    return f"{datetime.now(ZoneInfo('Asia/Baghdad')) + timedelta(days=days):%Y-%m-%d %H:%M:%S}"


@pytest.mark.usefixtures("routed")
class TestSending:
    async def test_to_lists_the_example_as_written_names_its_list(self, client, account):
        body = {
            "to_list_ids": [7],
            "message": "Your Message",
            "from": "441111111111",
            "send_at": "2025-01-01 08:51:07",
        }
        response = await client.post(f"{BASE}/messages/send/to_lists", json=body, headers=account.headers)
        assert (response.status_code, response.json()) == (422, {
            "message": "422 Unprocessable Content",
            "errors": {"to_list_ids.0": ["List with this id could not be found"]},
            "status_code": 422,
        })  # fmt: skip

    async def test_to_lists_makes_a_campaign_at_send_at(self, client, account):
        body = {"to_list_ids": [account.list_id], "message": "Your Message", "from": "447400123456",
                "send_at": later()}  # fmt: skip
        response = await client.post(f"{BASE}/messages/send/to_lists", json=body, headers=account.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
        made = (await client.get(f"/v1/campaigns/{response.json()['campaign_id']}",
                                 headers=account.customer.headers)).json()  # fmt: skip
        assert (made["status"], made["sender"], made["lists"]) == ("scheduled", NUMBER, [account.list_id])

    async def test_to_lists_with_a_template_fills_it_per_contact(self, client, account):
        made = await client.post("/v1/templates", json={"name": "hi", "body": "Hi {{name|friend}}"},
                                 headers=account.customer.headers)  # fmt: skip
        body = {"to_list_ids": [account.list_id], "template_id": made.json()["id"], "from": "COPERATO"}
        response = await client.post(f"{BASE}/messages/send/to_lists", json=body, headers=account.headers)
        assert response.status_code == 200, response.text
        campaign = (await client.get(f"/v1/campaigns/{response.json()['campaign_id']}",
                                     headers=account.customer.headers)).json()  # fmt: skip
        assert (campaign["template_id"], campaign["text"]) == (made.json()["id"], "Hi {{name|friend}}")

    async def test_to_numbers_the_example_as_written(self, client, account):
        """The example's first number is not a valid Israeli mobile; the second is. The template, the
        sender and the past send_at are the example's own: the template id 42 does not exist."""
        body = {"to_numbers": ["972541111111", "972542222222"], "from": "COPERATO", "template_id": "42",
                "send_at": "2025-01-01 08:51:07"}  # fmt: skip
        response = await client.post(f"{BASE}/messages/send/to_numbers", json=body, headers=account.headers)
        assert (response.status_code, response.json()) == (
            404, {"status_code": 404, "status": "declined", "message": "Template not found or not valid"},
        )  # fmt: skip

    async def test_to_numbers_sends_and_counts_the_invalid(self, client, account):
        body = {"to_numbers": ["972541111111", "972542222222"], "from": "COPERATO",
                "template_id": account.template_id}  # fmt: skip
        response = await client.post(f"{BASE}/messages/send/to_numbers", json=body, headers=account.headers)
        assert response.status_code == 200, response.text
        found = response.json()
        assert (found["status"], found["total_sent"], found["invalid"]) == (
            "approved", 1, {"count": 1, "numbers": ["972541111111"]},
        )  # fmt: skip
        sent = (await client.get("/v1/messages", headers=account.customer.headers)).json()["data"]
        assert [(m["to"], m["text"], m["batch_id"]) for m in sent] == [
            ("+972542222222", "Hello World", found["campaign_id"])
        ]

    @pytest.mark.parametrize(
        ("change", "status", "body"),
        [
            ({"from": "441111111111"}, 403, forbidden("Number invalid, inactive or unknown")),
            ({"from": "Stranger"}, 403, forbidden("Sender ID is not approved")),
            ({"message": 5}, 422, unprocessable("message", "The message must be a string.")),
            ({"to_numbers": ["12"]}, 422,
             unprocessable("to_numbers.0", "Given number is invalid or could not receive messages")),
        ],
    )  # fmt: skip
    async def test_documented_refusals(self, client, account, operator, change, status, body):
        request = {"to_numbers": ["9647701234567"], "from": "COPERATO", "message": "Your Message", **change}
        response = await client.post(
            f"{BASE}/messages/send/to_numbers", json=request, headers=account.headers
        )
        assert (response.status_code, response.json()) == (status, body)
        assert operator.account(account.customer.account.id).balance == 100

    async def test_low_balance_is_declined_with_its_reason(self, client, account, operator):
        request = {
            "to_numbers": [f"96477012345{n:02d}" for n in range(10)],
            "from": "COPERATO",
            "message": "Hi",
        }
        response = await client.post(
            f"{BASE}/messages/send/to_numbers", json=request, headers=account.headers
        )
        listed = {"to_list_ids": [account.list_id], "message": "Hi", "from": "COPERATO"}
        operator.set_price(Price(account.customer.account.id, "*", "*", "sms", "IQD", 500))
        campaign = await client.post(f"{BASE}/messages/send/to_lists", json=listed, headers=account.headers)
        for answer in (response, campaign):
            body = answer.json()
            assert answer.status_code == 422
            assert (body["status_code"], body["status"], body["reason"]) == (422, "declined", "balance_low")
            assert body["message"].startswith("Balance must be over ")


@pytest.fixture
def routed(db) -> None:
    add_simulator(db)  # a route for SMS: the verification API checks the workflow has one


@pytest.mark.usefixtures("routed")
class TestOtp:
    async def test_create_the_example_as_written_names_its_number(self, client, account):
        body = {"to_number": "442222222222", "brand": "Your Brand", "from": "441111111111"}
        response = await client.post(f"{BASE}/otp/create", json=body, headers=account.headers)
        assert response.status_code == 422
        assert response.json()["errors"] == {"to_number": ["This to number is invalid."]}
        assert (response.json()["code"], response.json()["status_code"]) == (422, 422)

    async def test_verify_cancel_and_search_the_documented_way(self, client, account):
        body = {"to_number": "9647701234567", "brand": "Your Brand", "from": "447400123456"}
        created = await client.post(f"{BASE}/otp/create", json=body, headers=account.headers)
        assert created.status_code == 200, created.text
        made = created.json()
        assert (made["status"], made["otp_status"]) == ("approved", "in_progress")
        otp_id = made["otp_id"]
        wrong = await client.post(
            f"{BASE}/otp/verify", json={"otp_id": otp_id, "code": 1}, headers=account.headers
        )
        assert (wrong.status_code, wrong.json()) == (422, {
            "message": "422 Unprocessable Content", "errors": {"code": ["This code is invalid."]},
            "code": 422, "status_code": 422,
        })  # fmt: skip
        found = (
            await client.get(f"{BASE}/otp/search", params={"otp_id": otp_id}, headers=account.headers)
        ).json()
        assert (found["uuid"], found["status"], found["destination"], found["brand"]) == (
            otp_id, "in_progress", "9647701234567", "Your Brand",
        )  # fmt: skip
        assert [c["status"] for c in found["checks"]] == ["invalid"]
        assert found["sender_value"] == NUMBER
        canceled = await client.post(f"{BASE}/otp/cancel", json={"otp_id": otp_id}, headers=account.headers)
        again = await client.post(f"{BASE}/otp/cancel", json={"otp_id": otp_id}, headers=account.headers)
        assert (canceled.status_code, canceled.json()) == (200, ["ok"])
        assert (again.status_code, again.json()) == (
            422,
            {"message": "OTP is not active", "status_code": 422},
        )

    async def test_the_seed_otp_id_does_not_exist(self, client, account):
        seed_id = "6a68fb58-9f58-450e-bf06-d5008977116a"
        for response in (
            await client.post(
                f"{BASE}/otp/verify", json={"otp_id": seed_id, "code": 626262}, headers=account.headers
            ),
            await client.post(f"{BASE}/otp/cancel", json={"otp_id": seed_id}, headers=account.headers),
            await client.get(f"{BASE}/otp/search?otp_id={seed_id}", headers=account.headers),
        ):
            assert (response.status_code, response.json()) == (
                404, {"status_code": 404, "status": "declined", "message": "OTP_ID does not exist"},
            )  # fmt: skip

    async def test_three_wrong_codes_and_it_is_failed(self, client, account):
        body = {"to_number": "9647701234568", "from": "COPERATO"}
        otp_id = (await client.post(f"{BASE}/otp/create", json=body, headers=account.headers)).json()[
            "otp_id"
        ]
        answers = [
            await client.post(
                f"{BASE}/otp/verify", json={"otp_id": otp_id, "code": 1}, headers=account.headers
            )
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [422, 422, 429]
        assert answers[2].json() == {"message": "Wrong code too many times", "code": 429, "status_code": 429}
        found = (await client.get(f"{BASE}/otp/search?otp_id={otp_id}", headers=account.headers)).json()
        assert found["status"] == "failed"

    async def test_a_second_otp_to_the_same_number_within_30_seconds(self, client, account):
        body = {"to_number": "9647701234569", "from": "COPERATO"}
        await client.post(f"{BASE}/otp/create", json=body, headers=account.headers)
        second = await client.post(f"{BASE}/otp/create", json=body, headers=account.headers)
        assert second.status_code == 429
        assert second.json()["message"].startswith("Two active requests to the same number are not allowed.")


async def test_a_code_read_from_the_phone_is_approved(gateway, db, operator):
    """The code Qasid made reaches the phone, and sent back as the document sends it (a JSON
    number), it is approved."""
    http, app = gateway
    await running_simulator(app, db)
    customer = operator.customer(balance=1000, price=20, senders_approved=("COPERATO",))
    body = {"to_number": "9647701234570", "from": "COPERATO", "brand": "Shop"}
    created = await http.post(f"{BASE}/otp/create", json=body, headers=seed_headers(customer))
    otp_id = created.json()["otp_id"]
    [code] = await codes_received(http, db, customer, otp_id)
    response = await http.post(f"{BASE}/otp/verify", json={"otp_id": otp_id, "code": int(code)},
                               headers=seed_headers(customer))  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"status": "approved"})
    assert re.fullmatch(r"\d{6}", code)


@pytest.mark.usefixtures("routed")
async def test_a_code_with_leading_zeros_sent_as_a_number_is_approved(client, operator):
    """A JSON number loses the code's leading zeros (0012 arrives as 12); they are put back from
    the code's length. The code is given, so that it surely starts with zeros."""
    customer = operator.customer(balance=1000, price=20, senders_approved=("COPERATO",))
    given = {"to": "+9647701234571", "sender": "COPERATO", "code": "001234"}
    made = await client.post("/v1/verifications", json=given, headers=customer.headers)
    otp_id = made.json()["id"]
    response = await client.post(f"{BASE}/otp/verify", json={"otp_id": otp_id, "code": 1234},
                                 headers=seed_headers(customer))  # fmt: skip
    assert (response.status_code, response.json()) == (200, {"status": "approved"})
