"""POST /v1/messages: what a customer sees when sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from qasid.billing.records import Price
from qasid.senders.service import add_sender
from tests.support import Customer, Operator

ASIACELL = "+9647701234567"
KOREK = "+9647501234567"
ZAIN = "+9647801234567"


def body(
    to: str | list[str] = ASIACELL, text: str = "Your code is 1234", sender: str = "Qasid", **extra: object
):
    return {"to": to, "text": text, "sender": sender, **extra}


async def send(client: httpx.AsyncClient, customer: Customer, payload: dict[str, object], **headers: str):
    return await client.post("/v1/messages", json=payload, headers={**customer.headers, **headers})


class TestAcceptance:
    async def test_one_recipient_is_accepted_priced_and_charged(self, client, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        response = await send(client, customer, body())
        assert response.status_code == 202
        data = response.json()
        [message] = data["messages"]
        assert message["to"] == ASIACELL
        assert message["status"] == "accepted"
        assert (message["encoding"], message["segments"], message["price"]) == ("gsm7", 1, 20)
        assert message["operator"] == "asiacell"
        assert (data["total_cost"], data["balance"], data["currency"]) == (20, 980, "IQD")
        assert data["batch_id"].startswith("bat_")
        assert message["id"].startswith("msg_")
        assert operator.account(customer.account.id).balance == 980

    async def test_accepted_message_can_be_read_back(self, client, operator: Operator):
        customer = operator.customer()
        sent = (await send(client, customer, body(client_ref="order-42"))).json()
        message_id = sent["messages"][0]["id"]
        got = await client.get(f"/v1/messages/{message_id}", headers=customer.headers)
        assert got.status_code == 200
        message = got.json()
        assert (message["text"], message["sender"], message["client_ref"]) == (
            "Your code is 1234",
            "Qasid",
            "order-42",
        )
        assert message["batch_id"] == sent["batch_id"]
        assert [h["status"] for h in message["history"]] == ["accepted"]

    async def test_national_number_is_read_in_the_accounts_region(self, client, operator: Operator):
        customer = operator.customer()
        data = (await send(client, customer, body(to="07501234567"))).json()
        assert data["messages"][0]["to"] == KOREK
        assert data["messages"][0]["operator"] == "korek"

    async def test_invalid_recipients_are_listed_and_do_not_block_valid_ones(
        self, client, operator: Operator
    ):
        customer = operator.customer()
        to = [ASIACELL, "+96412345678", "not a number", "+99912", "+449012345678", ZAIN]
        data = (await send(client, customer, body(to=to))).json()
        assert [m["to"] for m in data["messages"]] == [ASIACELL, ZAIN]
        reasons = {i["to"]: i["reason"] for i in data["invalid"]}
        assert reasons == {
            "+96412345678": "landline",
            "not a number": "unparsable",
            "+99912": "invalid_number",
            "+449012345678": "premium_rate",
        }
        assert all(i["detail"] for i in data["invalid"])
        assert data["total_cost"] == 40

    async def test_duplicate_recipients_are_sent_once(self, client, operator: Operator):
        customer = operator.customer()
        data = (await send(client, customer, body(to=[ASIACELL, "07701234567", "9647701234567"]))).json()
        assert len(data["messages"]) == 1
        assert data["duplicates"] == 2
        assert data["total_cost"] == 20

    async def test_five_hundred_recipients_are_accepted(self, client, operator: Operator):
        customer = operator.customer(balance=100_000)
        to = [f"+964770{n:07d}" for n in range(500)]
        data = (await send(client, customer, body(to=to))).json()
        assert len(data["messages"]) == 500
        assert len({m["id"] for m in data["messages"]}) == 500
        assert data["balance"] == 100_000 - 500 * 20

    async def test_more_than_five_hundred_recipients_are_refused(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(to=[f"+964770{n:07d}" for n in range(501)]))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "to"
        assert operator.account(customer.account.id).balance == 100_000

    async def test_long_unicode_text_is_priced_per_part(self, client, operator: Operator):
        customer = operator.customer(price=20)
        arabic = "رمز التحقق الخاص بك" * 4  # 76 UCS-2 units: two parts
        [message] = (await send(client, customer, body(text=arabic))).json()["messages"]
        assert (message["encoding"], message["segments"], message["price"]) == ("ucs2", 2, 40)

    async def test_text_beyond_the_limit_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(text="a" * 613))
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "text_too_long"
        assert (problem["units"], problem["limit"]) == (613, 612)

    async def test_text_at_the_limit_is_accepted(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(text="a" * 612))
        assert response.json()["messages"][0]["segments"] == 4

    async def test_a_destination_without_a_price_is_refused_per_recipient(self, client, operator: Operator):
        customer = operator.customer(price=None)
        operator.set_price(Price(customer.account.id, "IQ", "asiacell", "sms", "IQD", 15))
        data = (await send(client, customer, body(to=[ASIACELL, KOREK]))).json()
        assert [m["price"] for m in data["messages"]] == [15]
        assert data["invalid"] == [{"to": KOREK, "reason": "no_price", "detail": "no SMS price for IQ/korek"}]

    async def test_when_every_recipient_is_refused_nothing_is_charged(self, client, operator: Operator):
        customer = operator.customer(balance=500)
        response = await send(client, customer, body(to=["+96412345678", "junk"]))
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "no_valid_recipients"
        assert [i["reason"] for i in problem["invalid"]] == ["landline", "unparsable"]
        assert operator.account(customer.account.id).balance == 500


class TestPrices:
    async def test_the_operators_price_beats_the_countrys(self, client, operator: Operator):
        customer = operator.customer(price=None)
        operator.default_price("IQ", "*", 30)
        operator.default_price("IQ", "korek", 18)
        data = (await send(client, customer, body(to=[ASIACELL, KOREK]))).json()
        assert {m["to"]: m["price"] for m in data["messages"]} == {ASIACELL: 30, KOREK: 18}

    async def test_an_accounts_own_price_beats_the_default_list(self, client, operator: Operator):
        customer = operator.customer(price=None)
        operator.default_price("IQ", "zain", 25)
        operator.set_price(Price(customer.account.id, "IQ", "*", "sms", "IQD", 12))
        data = (await send(client, customer, body(to=ZAIN))).json()
        assert data["messages"][0]["price"] == 12


class TestScheduling:
    async def test_a_future_time_schedules_the_message(self, client, operator: Operator):
        customer = operator.customer()
        at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        data = (await send(client, customer, body(schedule_at=at.isoformat()))).json()
        assert data["messages"][0]["status"] == "scheduled"
        got = (await client.get(f"/v1/messages/{data['messages'][0]['id']}", headers=customer.headers)).json()
        assert datetime.fromisoformat(got["schedule_at"]) == at
        assert datetime.fromisoformat(got["expires_at"]) == at + timedelta(hours=48)

    async def test_a_past_time_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        at = datetime.now(UTC) - timedelta(minutes=1)
        response = await send(client, customer, body(schedule_at=at.isoformat()))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_schedule")

    async def test_more_than_35_days_ahead_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        at = datetime.now(UTC) + timedelta(days=35, minutes=1)
        response = await send(client, customer, body(schedule_at=at.isoformat()))
        assert response.json()["errors"][0]["field"] == "schedule_at"

    async def test_a_time_without_offset_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(schedule_at="2031-01-01T10:00:00"))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "schedule_at"

    async def test_validity_outside_its_bounds_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(validity=10))
        assert response.json()["errors"] == [{"field": "validity", "message": "60 to 259200 seconds"}]

    async def test_validity_sets_the_expiry(self, client, operator: Operator):
        customer = operator.customer()
        data = (await send(client, customer, body(validity=600))).json()
        got = (await client.get(f"/v1/messages/{data['messages'][0]['id']}", headers=customer.headers)).json()
        created, expires = (
            datetime.fromisoformat(got["created_at"]),
            datetime.fromisoformat(got["expires_at"]),
        )
        assert expires - created == timedelta(seconds=600)


class TestSenders:
    async def test_an_unknown_sender_is_refused(self, client, operator: Operator):
        customer = operator.customer()
        response = await send(client, customer, body(sender="Other"))
        assert (response.status_code, response.json()["code"]) == (422, "unknown_sender")

    async def test_another_accounts_sender_is_unknown(self, client, operator: Operator):
        operator.customer(senders_approved=("Bank",), name="bank")
        customer = operator.customer()
        response = await send(client, customer, body(sender="Bank"))
        assert response.json()["code"] == "unknown_sender"

    async def test_a_pending_sender_is_refused(self, client, operator: Operator, db):
        customer = operator.customer()
        with db.write() as conn:
            add_sender(conn, customer.account.id, "Pending", datetime.now(UTC), approved=False)
        response = await send(client, customer, body(sender="Pending"))
        assert (response.status_code, response.json()["code"]) == (403, "sender_not_approved")
        assert operator.account(customer.account.id).balance == 100_000

    async def test_a_numeric_sender_is_matched_in_any_international_form(self, client, operator: Operator):
        customer = operator.customer(senders_approved=("+9647709999999",))
        response = await send(client, customer, body(sender="9647709999999"))
        assert response.status_code == 202
        message_id = response.json()["messages"][0]["id"]
        got = (await client.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
        assert got["sender"] == "+9647709999999"
