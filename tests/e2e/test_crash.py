"""Crash safety, with real processes: kill -9 in the middle of dispatching, then start again."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from qasid.domain.states import FINAL
from qasid.models import jobs, ledger_entries, messages, simulator_inbox, workers
from tests.e2e.processes import start, wait_ready
from tests.support import Operator, add_simulator


def count(db, query) -> int:
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def wait_until(check, within: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {within} s")
        time.sleep(every)


class TestKillDuringDispatch:
    def test_kill_9_while_dispatching_loses_nothing_and_charges_nothing_twice(
        self, database_url, db, operator: Operator
    ):
        opening, price = 1_000_000, 20
        customer = operator.customer(balance=opening, price=price)
        add_simulator(db, latency_ms=2, report_delay_ms=300)
        gateway = start(database_url)
        try:
            wait_ready(gateway.url)
            with httpx.Client(base_url=gateway.url, headers=customer.headers, timeout=30) as http:
                for request in range(4):
                    to = [f"+96478{request:02d}{n:06d}" for n in range(500)]  # clear of the test numbers
                    response = http.post(
                        "/v1/messages", json={"to": to, "text": "Your code is 1234", "sender": "Qasid"}
                    )
                    assert response.status_code == 202, response.text[:300]
            received = select(func.count()).select_from(simulator_inbox)
            wait_until(lambda: count(db, received) >= 300, within=60, every=0.01)
        finally:
            gateway.kill()
        before_restart = count(db, received)
        assert before_restart < 2000, "the kill came too late to test anything"
        dead = select(workers.c.id).where(workers.c.stopped_at.is_(None))
        in_flight = count(
            db,
            select(func.count())
            .select_from(jobs)
            .where(jobs.c.claimed_by.in_(dead), jobs.c.kind == "dispatch"),
        )

        again = start(database_url)
        try:
            unfinished = (
                select(func.count())
                .select_from(messages)
                .where(messages.c.status.not_in([s.value for s in FINAL]))
            )
            wait_until(lambda: count(db, unfinished) == 0, within=90)
        finally:
            again.stop()

        with db.read() as conn:
            statuses = dict(
                conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
            )
            copies = conn.execute(
                select(simulator_inbox.c.message_id, func.count()).group_by(simulator_inbox.c.message_id)
            ).all()
            reserves = conn.execute(
                select(func.count()).select_from(ledger_entries).where(ledger_entries.c.kind == "reserve")
            ).scalar_one()
        sent_twice = sum(1 for _, n in copies if n > 1)
        print(f"\nkill -9 with {before_restart} of 2000 taken by the simulator: {in_flight} in flight, "
              f"{sent_twice} sent twice")  # fmt: skip
        assert statuses == {"delivered": 2000}
        assert len(copies) == 2000
        assert sent_twice <= in_flight
        assert reserves == 4  # one per request, never repeated
        balance = operator.account(customer.account.id).balance
        assert balance == opening - 2000 * price == operator.ledger_sum(customer.account.id)
