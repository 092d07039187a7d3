"""The books balance: after thousands of mixed outcomes the balance is exactly what the price table
and the final states say, and equals the sum of the ledger."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from qasid.domain.states import FINAL, MessageStatus
from qasid.models import batches, messages
from tests.support import Operator, running_simulator, wait_for

PRICES = {"asiacell": 20, "zain": 25, "korek": 18}
PREFIX = {"asiacell": "+96477", "zain": "+96478", "korek": "+96475"}
CHARGED = {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.PARTIALLY_DELIVERED}
TEXTS = ["Your code is 4821", "z" * 300, "رمز التحقق الخاص بك هو 4821 " * 3]  # 1, 2 and 2 parts


def unfinished(db) -> int:
    with db.read() as conn:
        query = (
            select(func.count())
            .select_from(messages)
            .where(messages.c.status.not_in([s.value for s in FINAL]))
        )
        return int(conn.execute(query).scalar_one())


class TestBooks:
    async def test_ten_thousand_mixed_outcomes_leave_the_balance_the_price_table_predicts(
        self, gateway, operator: Operator, db
    ):
        http, app = gateway
        await running_simulator(
            app, db, seed=7, permanent_failure_rate=0.1, undelivered_rate=0.1, transient_failure_rate=0.05
        )
        for operator_name, price in PRICES.items():
            operator.default_price("IQ", operator_name, price)
        opening = 10_000_000
        customer = operator.customer(balance=opening, price=None)
        draw = random.Random(3)
        numbers = draw.sample(range(100, 10_000_000), 10_000)  # clear of the simulator's fixed numbers
        scheduled = []
        for request in range(20):
            chunk = numbers[request * 500 : (request + 1) * 500]
            to = [f"{PREFIX[list(PRICES)[n % 3]]}{n:08d}" for n in chunk]
            body = {"to": to, "text": TEXTS[request % 3], "sender": "Qasid"}
            if request % 10 == 9:  # some go later, and are canceled before they leave
                body["schedule_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            response = await http.post("/v1/messages", json=body, headers=customer.headers)
            assert response.status_code == 202, response.text[:300]
            if "schedule_at" in body:
                scheduled += [m["id"] for m in response.json()["messages"][:100]]
        for message_id in scheduled:
            assert (
                await http.post(f"/v1/messages/{message_id}/cancel", headers=customer.headers)
            ).status_code == 200
        await wait_for(lambda: unfinished(db) == 800, within=120)  # 2 x 400 scheduled ones wait

        with db.read() as conn:
            rows = conn.execute(
                select(messages.c.status, messages.c.operator, messages.c.price, batches.c.segments).join(
                    batches, batches.c.id == messages.c.batch_id
                )
            ).all()
        assert len(rows) == 10_000
        assert {status for status, *_ in rows} >= {
            "delivered",
            "undelivered",
            "failed",
            "canceled",
            "scheduled",
        }
        for _, operator_name, price, segments in rows:
            assert price == PRICES[operator_name] * segments  # reserved by the price table
        spent = sum(price for status, _, price, _ in rows if MessageStatus(status) in CHARGED)
        waiting = sum(price for status, _, price, _ in rows if status == "scheduled")  # still reserved
        balance = operator.account(customer.account.id).balance
        assert balance == opening - spent - waiting
        assert operator.ledger_sum(customer.account.id) == balance
