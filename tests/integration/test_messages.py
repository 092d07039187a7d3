"""Reading messages back, paging through them, and canceling scheduled ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.support import Customer, Operator


async def send(client, customer: Customer, to, **extra):
    payload = {"to": to, "text": "hello", "sender": "Qasid", **extra}
    response = await client.post("/v1/messages", json=payload, headers=customer.headers)
    assert response.status_code == 202, response.text
    return response.json()


def later(hours: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


class TestGet:
    async def test_an_unknown_id_is_not_found(self, client, operator: Operator):
        customer = operator.customer()
        for message_id in (
            "msg_0193f2c4a1b27e0000000000000000ff",
            "nonsense",
            "bat_0193f2c4a1b27e0000000000000000ff",
        ):
            response = await client.get(f"/v1/messages/{message_id}", headers=customer.headers)
            assert (response.status_code, response.json()["code"]) == (404, "not_found")


class TestList:
    async def test_pages_cover_every_message_once_newest_first(self, client, operator: Operator):
        customer = operator.customer()
        sent_ids = []
        for n in range(7):
            sent_ids += [
                m["id"]
                for m in (await send(client, customer, [f"+96477000000{n}{m}" for m in range(3)]))["messages"]
            ]
        seen, cursor = [], None
        while True:
            query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(f"/v1/messages?{query}", headers=customer.headers)).json()
            assert len(page["data"]) <= 4
            seen += [m["id"] for m in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(sent_ids)
        assert seen == sorted(seen, reverse=True)

    async def test_filter_by_recipient_in_any_format(self, client, operator: Operator):
        customer = operator.customer()
        await send(client, customer, ["+9647701111111", "+9647702222222"])
        page = (await client.get("/v1/messages?to=07701111111", headers=customer.headers)).json()
        assert [m["to"] for m in page["data"]] == ["+9647701111111"]

    async def test_filter_by_batch_and_status(self, client, operator: Operator):
        customer = operator.customer()
        now_batch = await send(client, customer, ["+9647701111111", "+9647702222222"])
        later_batch = await send(client, customer, "+9647703333333", schedule_at=later())
        by_batch = (
            await client.get(f"/v1/messages?batch_id={now_batch['batch_id']}", headers=customer.headers)
        ).json()
        assert {m["batch_id"] for m in by_batch["data"]} == {now_batch["batch_id"]}
        assert len(by_batch["data"]) == 2
        scheduled = (await client.get("/v1/messages?status=scheduled", headers=customer.headers)).json()
        assert [m["id"] for m in scheduled["data"]] == [later_batch["messages"][0]["id"]]

    async def test_filter_by_creation_time(self, client, operator: Operator):
        customer = operator.customer()
        await send(client, customer, "+9647701111111")
        middle = datetime.now(UTC) + timedelta(milliseconds=5)
        await asyncio.sleep(0.02)
        newer = await send(client, customer, "+9647702222222")
        after = (
            await client.get(
                "/v1/messages", params={"created_after": middle.isoformat()}, headers=customer.headers
            )
        ).json()
        before = (
            await client.get(
                "/v1/messages", params={"created_before": middle.isoformat()}, headers=customer.headers
            )
        ).json()
        assert [m["id"] for m in after["data"]] == [newer["messages"][0]["id"]]
        assert [m["to"] for m in before["data"]] == ["+9647701111111"]


class TestCancel:
    async def test_canceling_a_scheduled_message_refunds_it(self, client, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        sent = await send(client, customer, ["+9647701111111", "+9647702222222"], schedule_at=later())
        first = sent["messages"][0]["id"]
        response = await client.post(f"/v1/messages/{first}/cancel", headers=customer.headers)
        assert response.status_code == 200
        message = response.json()
        assert message["status"] == "canceled"
        assert [h["status"] for h in message["history"]] == ["scheduled", "canceled"]
        assert operator.account(customer.account.id).balance == 1000 - 20
        assert operator.ledger_sum(customer.account.id) == 1000 - 20
        other = (
            await client.get(f"/v1/messages/{sent['messages'][1]['id']}", headers=customer.headers)
        ).json()
        assert other["status"] == "scheduled"

    async def test_a_second_cancel_is_a_conflict_and_refunds_nothing(self, client, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(client, customer, "+9647701111111", schedule_at=later()))["messages"][0][
            "id"
        ]
        await client.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers)
        again = await client.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers)
        assert (again.status_code, again.json()["code"]) == (409, "not_cancelable")
        assert operator.account(customer.account.id).balance == 1000

    async def test_concurrent_cancels_refund_once(self, client, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(client, customer, "+9647701111111", schedule_at=later()))["messages"][0][
            "id"
        ]
        responses = await asyncio.gather(
            *(client.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers) for _ in range(10))
        )
        assert sorted(r.status_code for r in responses) == [200] + [409] * 9
        assert operator.account(customer.account.id).balance == 1000

    async def test_a_message_being_sent_now_cannot_be_canceled(self, client, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        message_id = (await send(client, customer, "+9647701111111"))["messages"][0]["id"]
        response = await client.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers)
        problem = response.json()
        assert (response.status_code, problem["status"], problem["message_status"]) == (409, 409, "accepted")
        assert operator.account(customer.account.id).balance == 980
