"""The StandingTech / BulkSMSIraq SMS API v3 dialect (seed 001): every example request of the seed
sent exactly as written (the key swapped for a test account's), and the documented shapes back."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager

from qasid.api.app import create_app
from qasid.settings import Settings
from tests.support import Customer, Operator

BASE = "/standingtech/api/v3/sms"
SENDER = "YourName"


def seed_headers(customer: Customer) -> dict[str, str]:
    """The seed's three headers, with the test account's key."""
    return {
        "Authorization": f"Bearer {customer.key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


@pytest.fixture
def customer(operator: Operator) -> Customer:
    return operator.customer(balance=10_000, price=20, senders_approved=(SENDER,))


async def post_raw(client: httpx.AsyncClient, customer: Customer, body: str) -> httpx.Response:
    return await client.post(f"{BASE}/send", content=body.encode(), headers=seed_headers(customer))


SINGLE = """{
"recipient":"31612345678",
"sender_id":"YourName",
"type":"plain",
"message":"This is a test message"
}"""

# The seed's second example, byte for byte: its last line is not JSON ("schedule_time=..." with no
# value), so the provider itself cannot have read it as written.
MULTIPLE = """{
"recipient":"31612345678,880172145789",
"sender_id":"YourName",
"type":"plain",
"message":"This is a test message",
"schedule_time=2021-12-20 07:00"
}"""


class TestSend:
    async def test_the_first_example_sends_one_sms_and_answers_with_its_report(self, client, customer):
        response = await post_raw(client, customer, SINGLE)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        report = body["data"]
        assert (report["to"], report["from"], report["message"], report["status"]) == (
            "31612345678", SENDER, "This is a test message", "Pending",
        )  # fmt: skip
        assert (report["sms_count"], report["cost"], report["sms_type"]) == (1, 20, "plain")
        assert report["uid"].startswith("msg_")

    async def test_the_multiple_numbers_example_as_written_is_refused_as_bad_json(self, client, customer):
        response = await post_raw(client, customer, MULTIPLE)
        assert response.status_code == 400
        body = response.json()
        assert body["status"] == "error"
        assert body["message"].startswith("Invalid JSON format")
        assert set(body) == {"status", "message"}

    async def test_the_multiple_numbers_example_mended_schedules_one_per_number(self, client, customer):
        at = datetime.now(ZoneInfo("Asia/Baghdad")).replace(second=0, microsecond=0) + timedelta(days=1)
        mended = MULTIPLE.replace(
            '"schedule_time=2021-12-20 07:00"', f'"schedule_time":"{at:%Y-%m-%d %H:%M}"'
        ).replace("880172145789", "8801721457890")
        response = await post_raw(client, customer, mended)
        assert response.status_code == 200, response.text
        reports = response.json()["data"]
        assert [r["to"] for r in reports] == ["31612345678", "8801721457890"]
        assert {r["status"] for r in reports} == {"Scheduled"}
        assert {r["schedule_time"] for r in reports} == {f"{at:%Y-%m-%d %H:%M}"}

    async def test_a_bad_number_among_good_ones_is_named_and_the_rest_sent(self, client, customer):
        body = SINGLE.replace('"31612345678"', '"31612345678,880172145789"')
        response = await post_raw(client, customer, body)
        found = response.json()
        assert response.status_code == 200
        assert [r["to"] for r in found["data"]] == ["31612345678"]
        assert found["invalid"] == [{"recipient": "880172145789", "reason": "invalid_number"}]
        assert "880172145789" in found["message"]

    @pytest.mark.parametrize(
        ("change", "status", "words"),
        [
            (('"type":"plain"', '"type":"voice"'), 422, "Invalid Type"),
            (('"sender_id":"YourName"', '"sender_id":"Stranger"'), 422, "Stranger"),
            (('"message":"This is a test message"', '"message":""'), 422, "The message field is required."),
            (('"recipient":"31612345678"', '"recipient":"12"'), 422, "12:"),
        ],
    )
    async def test_bad_requests_get_the_error_shape_and_change_nothing(
        self, client, customer, operator, change, status, words
    ):
        response = await post_raw(client, customer, SINGLE.replace(*change))
        assert response.status_code == status, response.text
        assert response.json()["status"] == "error"
        assert words in response.json()["message"]
        assert operator.account(customer.account.id).balance == 10_000

    async def test_a_missing_or_wrong_key_and_too_little_credit_are_errors(self, client, operator, customer):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        missing = await client.post(f"{BASE}/send", content=SINGLE.encode(), headers=headers)
        wrong = await client.post(
            f"{BASE}/send",
            content=SINGLE.encode(),
            headers={**headers, "Authorization": "Bearer 49|LNFe8WJ7CPtvl2mzowAB4ll4enbFR0XGgnQh2qWY"},
        )
        poor = operator.customer(balance=5, price=20, senders_approved=(SENDER,), name="poor")
        short = await post_raw(client, poor, SINGLE)
        assert [missing.status_code, wrong.status_code, short.status_code] == [401, 401, 402]
        assert {r.json()["status"] for r in (missing, wrong, short)} == {"error"}
        assert "costs 20" in short.json()["message"]


class TestView:
    async def test_view_an_sms_by_the_uid_it_was_given(self, client, customer):
        uid = (await post_raw(client, customer, SINGLE)).json()["data"]["uid"]
        response = await client.get(f"{BASE}/{uid}", headers=seed_headers(customer))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "success"
        assert (body["data"]["uid"], body["data"]["to"], body["data"]["status"]) == (
            uid,
            "31612345678",
            "Pending",
        )

    async def test_the_seed_uid_is_not_found_in_the_error_shape(self, client, customer):
        response = await client.get(f"{BASE}/606812e63f78b", headers=seed_headers(customer))
        assert response.status_code == 404
        assert response.json()["status"] == "error"

    async def test_another_accounts_message_is_not_found(self, client, customer, operator):
        uid = (await post_raw(client, customer, SINGLE)).json()["data"]["uid"]
        other = operator.customer(name="other", senders_approved=(SENDER,))
        response = await client.get(f"{BASE}/{uid}", headers=seed_headers(other))
        assert response.status_code == 404

    async def test_view_all_messages_a_numbered_page_at_a_time(self, client, customer):
        sent = [(await post_raw(client, customer, SINGLE)).json()["data"]["uid"] for _ in range(3)]
        first = await client.get(BASE, headers=seed_headers(customer))
        second = await client.get(f"{BASE}?page=2&per_page=2", headers=seed_headers(customer))
        assert first.status_code == 200
        page = first.json()["data"]
        assert first.json()["status"] == "success"
        assert [m["uid"] for m in page["data"]] == sent[::-1]
        assert (page["current_page"], page["from"], page["to"], page["next_page_url"]) == (1, 1, 3, None)
        again = second.json()["data"]
        assert [m["uid"] for m in again["data"]] == sent[:1]
        assert (again["from"], again["prev_page_url"] is not None) == (3, True)


async def test_a_dialect_switched_off_or_moved_follows_the_settings(settings, operator):
    customer = operator.customer(senders_approved=(SENDER,))
    moved = settings.model_copy(
        update={"dialects": Settings(dialects={"standingtech": "/bulk", "smsapi": None}).dialects}
    )
    app = create_app(moved, role="api")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qasid.test") as http,
    ):
        there = await http.post(
            "/bulk/api/v3/sms/send", content=SINGLE.encode(), headers=seed_headers(customer)
        )
        gone = await http.post(f"{BASE}/send", content=SINGLE.encode(), headers=seed_headers(customer))
        off = await http.get("/smsapi/send", params={"key": customer.key})
    assert (there.status_code, gone.status_code, off.status_code) == (200, 404, 404)
