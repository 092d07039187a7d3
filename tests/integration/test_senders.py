"""Sender IDs an account asks for and the operator decides on, everywhere or per destination
operator at its own price; and long numbers the operator assigns, which send and receive."""

from __future__ import annotations

from datetime import UTC, datetime

from qasid.channels.base import Inbound
from qasid.inbound.service import RecordInbound
from tests.integration.test_cli import qasid
from tests.support import Customer, Operator

ZAIN, ASIACELL = "+9647812345670", "+9647712345678"
NUMBER = "+9647700000099"


async def sms(client, customer: Customer, to: list[str], sender: str, status: int = 202) -> dict:
    response = await client.post(
        "/v1/messages", json={"to": to, "text": "Hello", "sender": sender}, headers=customer.headers
    )
    assert response.status_code == status, response.text
    return dict(response.json())


class TestAskingForASenderId:
    async def test_a_requested_sender_id_waits_for_the_operator_then_sends(self, client, operator: Operator):
        customer = operator.customer(senders_approved=())
        asked = await client.post(
            "/v1/sender-ids", json={"name": "Acme", "purpose": "order updates"}, headers=customer.headers
        )
        assert asked.status_code == 201, asked.text
        assert (asked.json()["status"], asked.json()["kind"], asked.json()["purpose"]) == (
            "pending", "alphanumeric", "order updates",
        )  # fmt: skip
        refused = await sms(client, customer, [ZAIN], "Acme", status=403)
        assert refused["code"] == "sender_not_approved"
        listed = qasid("senders", "list", customer.account.id)
        assert "pending" in listed
        assert "order updates" in listed
        qasid("senders", "approve", customer.account.id, "Acme")
        sent = await sms(client, customer, [ZAIN], "Acme")
        assert len(sent["messages"]) == 1
        shown = (await client.get(f"/v1/sender-ids/{asked.json()['id']}", headers=customer.headers)).json()
        assert (shown["status"], shown["destinations"]) == ("approved", [])

    async def test_a_rejection_says_why_and_the_sender_id_does_not_send(self, client, operator: Operator):
        customer = operator.customer(senders_approved=())
        await client.post("/v1/sender-ids", json={"name": "Bank"}, headers=customer.headers)
        qasid("senders", "reject", customer.account.id, "Bank", "--reason", "not your brand")
        (shown,) = (await client.get("/v1/sender-ids", headers=customer.headers)).json()["data"]
        assert (shown["status"], shown["reason"]) == ("rejected", "not your brand")
        refused = await sms(client, customer, [ZAIN], "Bank", status=403)
        assert refused["code"] == "sender_not_approved"

    async def test_bad_and_repeated_requests_are_refused_and_sender_ids_are_the_accounts_own(
        self, client, operator: Operator
    ):
        customer, other = operator.customer(senders_approved=()), operator.customer(name="other")
        first = await client.post("/v1/sender-ids", json={"name": "Acme"}, headers=customer.headers)
        again = await client.post("/v1/sender-ids", json={"name": "Acme"}, headers=customer.headers)
        bad = await client.post("/v1/sender-ids", json={"name": "No_Underscores!"}, headers=customer.headers)
        stranger = await client.get(f"/v1/sender-ids/{first.json()['id']}", headers=other.headers)
        assert again.status_code == 409
        assert again.json()["code"] == "sender_exists"
        assert bad.status_code == 422
        assert stranger.status_code == 404
        assert len((await client.get("/v1/sender-ids", headers=customer.headers)).json()["data"]) == 1


class TestPerOperatorApproval:
    async def test_a_sender_approved_for_one_operator_goes_only_there_at_its_own_price(
        self, client, operator: Operator
    ):
        customer = operator.customer(senders_approved=(), balance=1000, price=20)
        await client.post("/v1/sender-ids", json={"name": "Acme"}, headers=customer.headers)
        where = ["--country", "IQ", "--operator", "Zain", "--price", "30"]
        shown = qasid("senders", "approve", customer.account.id, "Acme", *where)
        assert shown.strip() == "Acme approved: IQ/zain at 30 IQD"
        sent = await sms(client, customer, [ZAIN, ASIACELL], "Acme")
        assert [(m["to"], m["price"]) for m in sent["messages"]] == [(ZAIN, 30)]
        assert [(i["to"], i["reason"]) for i in sent["invalid"]] == [(ASIACELL, "sender_not_approved")]
        assert sent["total_cost"] == 30
        assert operator.account(customer.account.id).balance == 970
        (listed,) = (await client.get("/v1/sender-ids", headers=customer.headers)).json()["data"]
        assert listed["destinations"] == [{"country": "IQ", "operator": "zain", "price": 30}]
        qasid("senders", "approve", customer.account.id, "Acme")  # everywhere again, at the list's prices
        again = await sms(client, customer, [ASIACELL], "Acme")
        assert [(m["to"], m["price"]) for m in again["messages"]] == [(ASIACELL, 20)]


class TestNumbers:
    async def test_an_assigned_number_sends_receives_and_stops_when_released(self, api, operator: Operator):
        client, app = api
        customer = operator.customer(senders_approved=())
        other = operator.customer(name="other")
        assert qasid("numbers", "add", NUMBER, "--account", customer.account.id).split()[:2] == [
            NUMBER, customer.account.id,
        ]  # fmt: skip
        listed = (await client.get("/v1/numbers", headers=customer.headers)).json()["data"]
        assert [n["number"] for n in listed] == [NUMBER]
        assert (await client.get("/v1/numbers", headers=other.headers)).json()["data"] == []
        sent = await sms(client, customer, [ZAIN], NUMBER)
        assert len(sent["messages"]) == 1
        await app.state.services.writer.submit(
            RecordInbound([Inbound("con_x", ZAIN, NUMBER[1:], "hi", datetime.now(UTC))])
        )
        inbox = (await client.get("/v1/inbound-messages", headers=customer.headers)).json()["data"]
        assert [m["text"] for m in inbox] == ["hi"]
        assert "assigned to another account" in qasid("numbers", "assign", NUMBER, other.account.id, ok=False)
        qasid("numbers", "release", NUMBER)
        refused = await sms(client, customer, [ZAIN], NUMBER, status=422)
        assert refused["code"] == "unknown_sender"
        assert qasid("numbers", "list", "--free").split()[:2] == [NUMBER, "free"]
