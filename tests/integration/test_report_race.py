"""A submit's record and a report for it, written at once by two writers (a carrier's HTTP callback
reaches the API while a worker records the submit): the second must wait for the first, or under
PostgreSQL's READ COMMITTED each misses the other's row and the report stays unmatched for good.
(SQLite's one write lock orders them; PostgreSQL takes a lock per part, ``lock_pairs``.)"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from qasid.accounts.repository import AccountRepository
from qasid.channels.base import DeliveryReport
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter, WriteOp
from qasid.domain.states import MessageStatus
from qasid.messages.delivery_repository import DeliveryRepository
from qasid.messages.dispatch import RecordDispatch, Sent
from qasid.messages.reports import ApplyReports
from qasid.models import accounts
from tests.support import Operator, wait_for

PAIR = ("up", "carrier-7")


def test_a_second_writer_of_the_same_part_waits_for_the_first_to_commit(db: Database):
    events: list[str] = []
    locked = threading.Event()

    def second() -> None:
        locked.wait(5)
        with db.write() as conn:
            DeliveryRepository(conn).lock_pairs([PAIR, ("up", "other")])
            events.append("second has it")

    thread = threading.Thread(target=second)
    thread.start()
    with db.write() as conn:
        DeliveryRepository(conn).lock_pairs([PAIR])
        locked.set()
        time.sleep(0.5)  # the second tries meanwhile
        events.append("first commits")
    thread.join(10)
    assert events == ["first commits", "second has it"]


def test_different_parts_do_not_wait_for_each_other(db: Database):
    if db.is_sqlite:
        pytest.skip("SQLite has one write lock: every writer waits for the other (tested above)")
    done = threading.Event()

    def second() -> None:
        with db.write() as conn:
            DeliveryRepository(conn).lock_pairs([("up", "another")])
        done.set()

    with db.write() as conn:
        DeliveryRepository(conn).lock_pairs([PAIR])
        thread = threading.Thread(target=second)
        thread.start()
        assert done.wait(5)
    thread.join(5)


@asynccontextmanager
async def waiting_behind(db: Database, part: tuple[str, str], ops: list[WriteOp[Any]]) -> AsyncIterator[None]:
    """A writer whose next transaction carries ``ops`` (all in one) and waits for ``part``, which
    another connection holds meanwhile: the block runs while it waits. Then the part is let go and
    the ops must commit together."""
    writer = GroupCommitWriter(db)
    writer.start()
    entered, gate = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        entered.set()
        gate.wait(10)

    def waiting_for_a_part() -> bool:
        with db.read() as conn:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return bool(conn.execute(text(query)).scalar_one())

    try:
        busy = asyncio.ensure_future(writer.submit(Apply(hold)))
        await wait_for(entered.is_set)  # the writer is in that transaction: the ops queue for one
        queued = [asyncio.ensure_future(writer.submit(op)) for op in ops]
        await asyncio.sleep(0.05)
        with db.write() as holder:  # say, a worker recording the submit holds the part
            DeliveryRepository(holder).lock_pairs([part])
            gate.set()
            await busy
            await wait_for(waiting_for_a_part)  # the writer's next transaction waits for the part
            yield
        await asyncio.wait_for(asyncio.gather(*queued), 10)
        assert writer.batches == 2  # the ops shared a transaction
    finally:
        gate.set()
        await writer.stop()


@dataclass
class EarlyApply(Apply[None]):
    """An op that goes before the reports, as ``RecordDispatch`` does, and locks an account (as its
    ``Fallback`` outcome's send of the next channel does)."""

    phase = -3


@pytest.mark.parametrize("locking", [Apply, EarlyApply], ids=["after the reports", "before the reports"])
async def test_a_transaction_locks_its_reports_parts_before_any_account(
    db: Database, operator: Operator, locking: type[Apply[None]]
):
    """An API writer's transaction can carry a carrier's callback (``ApplyReports``) beside sends,
    which lock their account from their start; a worker's takes parts first and accounts last
    (refunds). Were the account locked first, the two could each wait for the other: a deadlock,
    found by PostgreSQL after a second. So a transaction's reports lock their parts before any op
    runs, whatever its phase."""
    if db.is_sqlite:
        pytest.skip("SQLite has one write lock: its transactions cannot wait for each other's rows")
    account = operator.customer().account.id
    reported = DeliveryReport(*PAIR, MessageStatus.DELIVERED, None, "id:carrier-7", datetime.now(UTC))
    sending = locking(lambda conn: AccountRepository(conn).lock_for_update([account]))
    async with waiting_behind(db, PAIR, [sending, ApplyReports([reported])]):
        with db.write() as probe:  # the writer has not locked the account before the part
            probe.execute(
                select(accounts.c.id).where(accounts.c.id == account).with_for_update(nowait=True)
            ).one()


async def test_a_transaction_locks_all_its_parts_at_once_in_one_order(db: Database):
    """A worker's transaction records submits (locking their parts) and applies receipts (locking
    theirs), and receipts come in on any bind: one worker can record part x while it has the
    receipt for y, as another records y with the receipt for x. Locked class by class, each could
    hold one part and wait for the other. The writer takes every part of a transaction in one
    statement, in the order of their hashes, before anything else: here it waits for the lower
    part without holding the higher one (class by class, the record would have taken it first)."""
    if db.is_sqlite:
        pytest.skip("SQLite has one write lock: its transactions cannot wait for each other's rows")

    def key(pair: tuple[str, str]) -> int:
        with db.read() as conn:
            found = conn.execute(text("SELECT hashtextextended(:k, 0)"), {"k": " ".join(pair)})
            return int(found.scalar_one())

    low, high = sorted([PAIR, ("up", "carrier-8")], key=key)
    now = datetime.now(UTC)
    recorded = RecordDispatch(Sent(0, "msg_unknown", high[0], "up", (high[1],), now), now)
    reported = DeliveryReport(*low, MessageStatus.DELIVERED, None, f"id:{low[1]}", now)
    async with waiting_behind(db, low, [recorded, ApplyReports([reported])]):
        with db.write() as probe:  # the writer has not taken the higher part meanwhile
            taken = probe.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key(high)})
            assert taken.scalar_one() is True
