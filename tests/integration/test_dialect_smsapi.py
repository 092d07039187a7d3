"""The key/brandID provider's dialect (seed 003): sending with key, brandID, numbers, text, stopList,
otp and sendTime in a query string, a form or JSON; and its delivery callback, a GET with key,
smsID, number, statusID and date, retried until the receiver answers 2xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from qasid.optout import service as optout
from qasid.optout.records import ListKind
from tests.httpserver import HttpRequest, HttpResponse
from tests.receiver import Receiver, endpoint, running
from tests.support import Customer, Operator, running_simulator, wait_for

SEND = "/smsapi/send"
BRAND = "MyBrand"


@pytest.fixture
def customer(operator: Operator) -> Customer:
    return operator.customer(balance=10_000, price=20, senders_approved=(BRAND,))


def seed_params(customer: Customer, **extra: str) -> dict[str, str]:
    """The seed's parameters, with a test account's key."""
    return {"key": customer.key, "brandID": BRAND, "numbers": "9647701234567,9647801234567",
            "text": "Your code is 1234", **extra}  # fmt: skip


class TestSend:
    async def test_the_same_parameters_by_query_form_or_json_send_to_every_number(self, client, customer):
        by_query = await client.get(SEND, params=seed_params(customer))
        by_form = await client.post(SEND, data=seed_params(customer))
        by_json = await client.post("/smsapi", json=seed_params(customer))
        for response in (by_query, by_form, by_json):
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["status"] == "success"
            assert [m["number"] for m in body["messages"]] == ["9647701234567", "9647801234567"]
            assert all(m["smsID"].startswith("msg_") for m in body["messages"])
            assert (body["cost"], body["currency"], body["invalid"]) == (40, "IQD", [])
        assert by_json.json()["balance"] == 10_000 - 3 * 40

    async def test_a_wrong_method_and_no_such_path_answer_in_the_dialect(self, client, customer):
        wrong = await client.delete(SEND)
        missing = await client.get("/smsapi/nothing")
        assert (wrong.status_code, wrong.json()["status"]) == (405, "error")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    async def test_the_brand_may_be_named_by_its_id(self, client, customer):
        listed = (await client.get("/v1/sender-ids", headers=customer.headers)).json()["data"]
        brand_id = next(s["id"] for s in listed if s["name"] == BRAND)
        response = await client.get(SEND, params=seed_params(customer, brandID=brand_id))
        assert response.status_code == 200, response.text

    async def test_a_stop_listed_number_is_refused_unless_stoplist_is_false(self, client, customer, db):
        with db.write() as conn:
            optout.add(conn, customer.account.id, "+9647801234567", ListKind.STOP, datetime.now(UTC),
                       source="api", note=None)  # fmt: skip
        checked = (await client.get(SEND, params=seed_params(customer))).json()
        skipped = (await client.get(SEND, params=seed_params(customer, stopList="false"))).json()
        assert [m["number"] for m in checked["messages"]] == ["9647701234567"]
        assert [(i["number"], i["reason"]) for i in checked["invalid"]] == [("9647801234567", "stopped")]
        assert [m["number"] for m in skipped["messages"]] == ["9647701234567", "9647801234567"]

    async def test_send_time_schedules_in_the_dialect_time_zone(self, client, customer):
        local = datetime.now(ZoneInfo("Asia/Baghdad")).replace(second=0, microsecond=0) + timedelta(days=2)
        response = await client.get(
            SEND, params=seed_params(customer, sendTime=f"{local:%Y-%m-%d %H:%M}", otp="true")
        )
        sms_id = response.json()["messages"][0]["smsID"]
        shown = (await client.get(f"/v1/messages/{sms_id}", headers=customer.headers)).json()
        assert shown["status"] == "scheduled"
        assert datetime.fromisoformat(shown["schedule_at"]) == local

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            ({"key": ""}, 401, "missing_api_key"),
            ({"key": "not-a-key"}, 401, "invalid_api_key"),
            ({"brandID": "Stranger"}, 422, "unknown_sender"),
            ({"text": ""}, 422, "invalid_request"),
            ({"numbers": "12"}, 422, "no_valid_recipients"),
            ({"sendTime": "2020-01-01 10:00"}, 422, "invalid_request"),
            ({"sendTime": "tomorrow"}, 422, "invalid_request"),
            ({"stopList": "maybe"}, 422, "invalid_request"),
        ],
    )
    async def test_bad_requests_get_an_error_and_charge_nothing(
        self, client, customer, operator, change, status, code
    ):
        response = await client.get(SEND, params=seed_params(customer, **change))
        assert response.status_code == status, response.text
        assert (response.json()["status"], response.json()["code"]) == ("error", code)
        assert operator.account(customer.account.id).balance == 10_000


class TestCallback:
    async def test_status_changes_come_by_get_with_the_documented_parameters_retried_until_2xx(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer(balance=10_000, price=20, senders_approved=(BRAND,))
        answers = iter([500])  # the first call fails; the same callback comes again

        async def answer(request: HttpRequest) -> HttpResponse:
            return HttpResponse(next(answers, 200))

        async with Receiver() as receiver, running(fast_settings) as (http, app):
            receiver.answer = answer
            await running_simulator(app, db)
            await endpoint(http, customer, receiver.url, format="smsapi", secret="YourCallbackKey")
            sent = (await http.get(SEND, params=seed_params(customer, numbers="9647701234567"))).json()
            sms_id = sent["messages"][0]["smsID"]
            await wait_for(lambda: len({c.param("statusID") for c in receiver.calls}) == 2, within=15)
            await wait_for(lambda: len(receiver.calls) == 3, within=15)
        calls = receiver.calls
        assert {c.method for c in calls} == {"GET"}
        assert {(c.param("key"), c.param("smsID"), c.param("number")) for c in calls} == {
            ("YourCallbackKey", sms_id, "9647701234567")
        }
        statuses = [c.param("statusID") for c in calls]
        assert statuses.count(statuses[0]) == 2  # the call that failed, tried again
        assert sorted(set(statuses)) == ["0", "1"]  # sent, then delivered
        for call in calls:
            datetime.strptime(call.param("date") or "", "%Y-%m-%d %H:%M:%S")

    async def test_an_smsapi_endpoint_needs_its_key_and_takes_message_statuses_only(self, client, customer):
        url = "https://example.com/callback"
        keyless = await client.post(
            "/v1/webhooks", json={"url": url, "format": "smsapi"}, headers=customer.headers
        )
        inbound = await client.post(
            "/v1/webhooks",
            json={"url": url, "format": "smsapi", "secret": "k", "events": ["inbound.message"]},
            headers=customer.headers,
        )
        made = await client.post(
            "/v1/webhooks", json={"url": url, "format": "smsapi", "secret": "k"}, headers=customer.headers
        )
        assert [keyless.status_code, inbound.status_code, made.status_code] == [422, 422, 201]
        assert (made.json()["events"], made.json()["format"], made.json()["secret"]) == (
            ["message.status"],
            "smsapi",
            "k",
        )
        widened = await client.patch(
            f"/v1/webhooks/{made.json()['id']}",
            json={"events": ["message.status", "inbound.message"]},
            headers=customer.headers,
        )
        assert widened.status_code == 422  # changed later, it still takes message.status only
