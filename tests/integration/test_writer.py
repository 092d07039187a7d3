"""The group commit: shared transactions, isolated failures, nothing claimed that was not written."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

import pytest
from sqlalchemy import Connection, func, insert, select, text, update

from qasid.db import Database
from qasid.db import writer as writer_module
from qasid.db.bulk import Query, bulk_insert, bulk_update, fetch, placeholder
from qasid.db.writer import GroupCommitWriter, Plan, WriteOp
from qasid.errors import NotFound, QasidError, Unavailable
from qasid.models import accounts


@dataclass
class NewAccount(WriteOp[str]):
    """Inserts an account; a duplicate id makes the whole transaction fail."""

    account_id: str
    refuse: bool = False

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[str | QasidError]:
        results: list[str | QasidError] = []
        for op in ops:
            if op.refuse:
                results.append(NotFound("refused by policy"))
                continue
            now = datetime.now(UTC)
            conn.execute(
                insert(accounts).values(
                    id=op.account_id,
                    name="x",
                    status="active",
                    payment_type="prepaid",
                    currency="IQD",
                    credit_limit=0,
                    balance=0,
                    default_region="IQ",
                    created_at=now,
                    updated_at=now,
                )
            )
            results.append(op.account_id)
        return results


ACCOUNT_COLUMNS = (
    "id", "name", "status", "payment_type", "currency", "credit_limit", "balance", "default_region",
    "created_at", "updated_at",
)  # fmt: skip


@dataclass
class NewAccountRows(WriteOp[str]):
    """Inserts accounts by ``bulk_insert``, a write the writer defers on PostgreSQL until the commit."""

    account_id: str

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[str | QasidError]:
        now = datetime.now(UTC)
        rows = [(op.account_id, "x", "active", "prepaid", "IQD", 0, 0, "IQ", now, now) for op in ops]
        bulk_insert(conn, accounts, rows, ACCOUNT_COLUMNS)
        return [op.account_id for op in ops]


@pytest.fixture
async def writer(db: Database):
    started = GroupCommitWriter(db, max_batch=64)
    started.start()
    yield started
    await started.stop()


def count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(accounts)).scalar_one())


class TestGroupCommit:
    async def test_concurrent_ops_share_transactions(self, writer, db):
        results = await asyncio.gather(*(writer.submit(NewAccount(f"acc_{n}")) for n in range(200)))
        assert results == [f"acc_{n}" for n in range(200)]
        assert count(db) == 200
        assert writer.batches < 200  # they were grouped

    async def test_a_write_lock_that_cannot_be_taken_answers_unavailable_and_the_writer_goes_on(
        self, writer, db, monkeypatch
    ):
        def unwritable() -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(db, "write_lock", unwritable)
        with pytest.raises(Unavailable, match="nothing was accepted"):
            await writer.submit(NewAccount("acc_refused"))
        monkeypatch.undo()
        assert await writer.submit(NewAccount("acc_later")) == "acc_later"
        assert count(db) == 1

    async def test_a_refusal_is_that_ops_answer_only(self, writer, db):
        results = await asyncio.gather(
            writer.submit(NewAccount("acc_a")),
            writer.submit(NewAccount("acc_b", refuse=True)),
            writer.submit(NewAccount("acc_c")),
            return_exceptions=True,
        )
        assert (results[0], results[2]) == ("acc_a", "acc_c")
        assert isinstance(results[1], NotFound)
        assert count(db) == 2

    @pytest.mark.parametrize(
        "make",
        [NewAccount, NewAccountRows],
        ids=["sqlalchemy", "deferred"],  # the second's inserts wait for the commit on PostgreSQL
    )
    async def test_an_op_that_breaks_the_transaction_does_not_sink_its_neighbours(self, writer, db, make):
        await writer.submit(make("acc_taken"))
        results = await asyncio.gather(
            *(writer.submit(make(f"acc_{n}")) for n in range(20)),
            writer.submit(make("acc_taken")),
            return_exceptions=True,
        )
        assert results[:20] == [f"acc_{n}" for n in range(20)]
        assert isinstance(results[20], Unavailable)
        assert count(db) == 21

    async def test_after_stop_nothing_is_accepted(self, db):
        stopped = GroupCommitWriter(db)
        stopped.start()
        await stopped.stop()
        with pytest.raises(Unavailable):
            await stopped.submit(NewAccount("acc_late"))
        assert count(db) == 0

    async def test_stop_applies_what_was_queued(self, db):
        writer = GroupCommitWriter(db)
        writer.start()
        pending = [asyncio.ensure_future(writer.submit(NewAccount(f"acc_{n}"))) for n in range(50)]
        await asyncio.sleep(0)
        await writer.stop()
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert results == [f"acc_{n}" for n in range(50)]
        assert count(db) == 50


class TestSqliteLock:
    async def test_the_writer_waits_for_another_processes_lock_and_the_loop_keeps_running(self, db):
        if not db.is_sqlite:
            pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
        writer = GroupCommitWriter(db)
        writer.start()
        holder = db.writer_connection()
        held = holder.begin()  # another process's write transaction
        pending = asyncio.ensure_future(writer.submit(NewAccount("acc_waits")))
        ticks = 0
        for _ in range(20):  # the loop keeps serving while the writer waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done()
        held.commit()
        holder.close()
        assert await asyncio.wait_for(pending, 5) == "acc_waits"
        assert ticks == 20
        await writer.stop()

    async def test_qasids_processes_queue_on_the_file_lock_before_sqlites(self, db):
        """Another Qasid process that holds only the file lock (no SQLite transaction) holds the
        writer back: the processes queue in the kernel, not in SQLite's sleeping busy handler."""
        if not db.is_sqlite:
            pytest.skip("the file lock is SQLite's; PostgreSQL locks rows")
        let_go = await lock_held_elsewhere(db)
        writer = GroupCommitWriter(db)
        writer.start()
        pending = asyncio.ensure_future(writer.submit(NewAccount("acc_queued")))
        await asyncio.sleep(0.3)
        assert not pending.done()
        await let_go()
        assert await asyncio.wait_for(pending, 5) == "acc_queued"
        await writer.stop()

    async def test_what_queues_while_the_writer_waits_for_the_lock_joins_its_transaction(self, db):
        """Under contention the batch grows: ops that arrive while the writer waits for another
        writer's lock go in with the op it was waiting to write, not in a turn of their own."""
        if not db.is_sqlite:
            pytest.skip("the file lock is SQLite's; PostgreSQL locks rows")
        let_go = await lock_held_elsewhere(db)
        writer = GroupCommitWriter(db)
        writer.start()
        first = asyncio.ensure_future(writer.submit(NewAccount("acc_first")))
        await asyncio.sleep(0.3)  # the writer has taken it and waits for the lock
        assert writer._queue.empty()
        later = [asyncio.ensure_future(writer.submit(NewAccount(f"acc_later_{n}"))) for n in range(3)]
        await asyncio.sleep(0.1)
        await let_go()
        assert await asyncio.wait_for(asyncio.gather(first, *later), 5) == [
            "acc_first",
            *(f"acc_later_{n}" for n in range(3)),
        ]
        assert (writer.batches, writer.ops) == (1, 4)
        await writer.stop()


async def lock_held_elsewhere(db: Database) -> Callable[[], Awaitable[None]]:
    """Another Qasid process takes ``db``'s file lock; returns what makes it let go (and end)."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_THE_LOCK, db.url, stdin=PIPE, stdout=PIPE
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"

    async def let_go() -> None:
        assert holder.stdin is not None
        holder.stdin.close()
        assert await asyncio.wait_for(holder.wait(), 5) == 0

    return let_go


HOLD_THE_LOCK = """
import sys
from qasid.db import Database
from qasid.db.bulk import bulk_insert
with Database(sys.argv[1]).write_lock():
    print("held", flush=True)
    sys.stdin.read()
"""


APPLIED: list[str] = []


@dataclass
class Gate(WriteOp[None]):
    """Holds the writer until ``open`` is set, so what is queued meanwhile shares the next batch."""

    open: threading.Event

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        for op in ops:
            op.open.wait(5)
        return [None] * len(ops)


@dataclass
class Early(WriteOp[None]):
    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        APPLIED.append("early")
        return [None] * len(ops)


@dataclass
class Late(WriteOp[None]):
    phase = 1

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        APPLIED.append("late")
        return [None] * len(ops)


class TestPhases:
    async def test_a_later_phase_goes_after_the_others_in_one_transaction_whatever_arrived_first(
        self, writer
    ):
        APPLIED.clear()
        gate = threading.Event()
        held = asyncio.create_task(writer.submit(Gate(gate)))
        await asyncio.sleep(0.05)  # the writer is inside the gate's transaction
        queued = [asyncio.create_task(writer.submit(op)) for op in (Late(), Early(), Late())]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(held, *queued)
        assert APPLIED == ["early", "late"]
        assert writer.batches == 2


def record_locks(conn: Connection, keys: list[str]) -> None:
    APPLIED.append(f"lock {' '.join(keys)}")


@dataclass
class Locking(WriteOp[None]):
    """Names keys to lock: the writer takes them before any op of the transaction applies."""

    keys: tuple[str, ...]
    phase = 1
    locker = record_locks

    @classmethod
    def lock_keys(cls, ops: Sequence[Self]) -> list[str]:
        return [key for op in ops for key in op.keys]

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        APPLIED.append("locking")
        return [None] * len(ops)


@dataclass
class LockingToo(Locking):
    phase = 2


class TestLocks:
    async def test_every_class_s_keys_are_locked_at_once_sorted_before_any_op_applies(self, writer):
        APPLIED.clear()
        gate = threading.Event()
        held = asyncio.create_task(writer.submit(Gate(gate)))
        await asyncio.sleep(0.05)  # the writer is inside the gate's transaction
        ops = (LockingToo(("d", "b")), Early(), Locking(("c", "b")), Late(), Locking(("a",)))
        queued = [asyncio.create_task(writer.submit(op)) for op in ops]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(held, *queued)
        assert writer.batches == 2
        assert APPLIED == ["lock a b c d", "early", "locking", "late", "locking"]

    async def test_a_transaction_without_keys_calls_no_locker(self, writer):
        APPLIED.clear()
        await asyncio.gather(writer.submit(Early()), writer.submit(Locking(())))
        assert not [step for step in APPLIED if step.startswith("lock ")]
        assert "locking" in APPLIED


@dataclass
class ReadName(WriteOp[str]):
    """Plans one read: the account's name, before any write of its transaction's planned classes."""

    account_id: str

    @classmethod
    def plan(cls, conn: Connection, ops: Sequence[Self]) -> Plan[str]:
        sql = f"SELECT name FROM accounts WHERE id = {placeholder(conn.dialect)}"  # noqa: S608
        queries = [Query(sql, (op.account_id,), lambda rows: str(rows[0][0])) for op in ops]
        return Plan(queries, lambda names: names)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[str | QasidError]:
        return cls.plan(conn, ops).run(conn)


@dataclass
class ReadNameToo(ReadName):
    pass


@dataclass
class ReadNameLater(ReadName):
    phase = 2


@dataclass
class Rename(WriteOp[None]):
    """Plans nothing; its write is deferred on PostgreSQL."""

    account_id: str
    name: str
    phase = 1

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        bulk_update(conn, accounts, "id", ("name",), [(op.account_id, op.name) for op in ops])
        return [None] * len(ops)


class TestPlans:
    async def test_planned_classes_in_a_row_read_together_and_after_the_writes_of_any_other(
        self, writer, db, operator, monkeypatch
    ):
        account = operator.customer(name="before").account.id
        fetched: list[int] = []

        def counted(conn: Connection, queries: Sequence[Query[object]]) -> list[object]:
            fetched.append(len(queries))
            return fetch(conn, queries)

        monkeypatch.setattr(writer_module, "fetch", counted)
        gate = threading.Event()
        held = asyncio.create_task(writer.submit(Gate(gate)))
        await asyncio.sleep(0.05)  # the writer is inside the gate's transaction
        ops = (ReadNameLater(account), ReadName(account), Rename(account, "after"), ReadNameToo(account))
        queued = [asyncio.create_task(writer.submit(op)) for op in ops]
        await asyncio.sleep(0.05)
        gate.set()
        await held
        assert await asyncio.gather(*queued) == ["after", "before", None, "before"]
        assert writer.batches == 2
        # The two phase-0 classes' reads went together, and the phase-2 class's after the rename.
        assert fetched == [2, 1]


class TestLinger:
    async def test_under_load_an_op_arriving_within_the_linger_joins_the_batch(self, db: Database):
        writer = GroupCommitWriter(db, linger=0.3)
        writer.start()
        try:
            gate = threading.Event()
            held = asyncio.create_task(writer.submit(Gate(gate)))
            await asyncio.sleep(0.05)
            busy = [asyncio.create_task(writer.submit(Early())) for _ in range(2)]  # a batch of two
            await asyncio.sleep(0.05)
            gate.set()
            await asyncio.gather(held, *busy)
            before = writer.batches
            first = asyncio.create_task(writer.submit(Early()))
            await asyncio.sleep(0.1)  # well inside the linger
            second = asyncio.create_task(writer.submit(Early()))
            await asyncio.gather(first, second)
            assert writer.batches == before + 1
        finally:
            await writer.stop()

    async def test_a_lone_op_is_written_at_once(self, db: Database):
        writer = GroupCommitWriter(db, linger=5.0)
        writer.start()
        try:
            await asyncio.wait_for(writer.submit(Early()), 2.0)  # it would wait 5 s if it lingered
        finally:
            await writer.stop()


class TestReads:
    def test_a_read_sees_one_moment_whatever_commits_meanwhile(self, db):
        with db.write() as conn:
            conn.execute(insert(accounts).values(**ACCOUNT, id="acc_before"))
        with db.read() as conn:
            first = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
            with db.write() as other:
                other.execute(insert(accounts).values(**ACCOUNT, id="acc_meanwhile"))
            assert conn.execute(select(func.count()).select_from(accounts)).scalar_one() == first
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(accounts)).scalar_one() == first + 1


_NOW = datetime.now(UTC)
ACCOUNT = {
    "name": "x", "status": "active", "payment_type": "prepaid", "currency": "IQD", "credit_limit": 0,
    "balance": 0, "default_region": "IQ", "created_at": _NOW, "updated_at": _NOW,
}  # fmt: skip


@dataclass
class CrossLock(WriteOp[int]):
    """Takes account ``first`` and then ``second``, telling ``locked`` after the first and waiting
    for ``go`` before the second; how many times it ran."""

    first: str
    second: str
    locked: threading.Event
    go: threading.Event
    runs: int = 0

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[int | QasidError]:
        (op,) = ops
        op.runs += 1
        conn.execute(text("SET LOCAL deadlock_timeout = '50ms'"))  # this side finds the deadlock
        conn.execute(update(accounts).where(accounts.c.id == op.first).values(name="writer"))
        op.locked.set()
        assert op.go.wait(10)
        conn.execute(update(accounts).where(accounts.c.id == op.second).values(name="writer"))
        return [op.runs]


class TestConflicts:
    async def test_a_deadlock_is_tried_again_and_written_once(self, writer, db):
        if db.is_sqlite:
            pytest.skip("SQLite's one write lock cannot deadlock")
        with db.write() as conn:
            conn.execute(insert(accounts), [{**ACCOUNT, "id": "acc_a"}, {**ACCOUNT, "id": "acc_b"}])
        op = CrossLock("acc_a", "acc_b", threading.Event(), threading.Event())

        def other() -> None:  # takes them the other way round
            with db.write() as conn:
                conn.execute(text("SET LOCAL deadlock_timeout = '5s'"))
                conn.execute(update(accounts).where(accounts.c.id == "acc_b").values(name="other"))
                assert op.locked.wait(10)
                op.go.set()
                time.sleep(0.01)  # the writer waits for acc_b first
                conn.execute(update(accounts).where(accounts.c.id == "acc_a").values(name="other"))

        crossing = threading.Thread(target=other)
        crossing.start()
        assert await writer.submit(op) == 2  # refused once as the deadlock's victim, then written
        crossing.join()
        with db.read() as conn:
            names = conn.execute(select(accounts.c.name).order_by(accounts.c.id)).scalars().all()
        assert names == ["writer", "writer"]  # the other side committed first, the writer after it
        assert writer.batches == 1


class TestServeWriters:
    async def test_a_request_is_written_while_the_workers_transaction_is_open(self, gateway, operator, db):
        """``qasid serve``: the worker writes through a writer of its own, so a send is not held in a
        transaction behind the outbox's. On PostgreSQL the two write at once."""
        http, app = gateway
        runtime = app.state.services
        assert runtime.worker.writer is not runtime.writer
        if db.is_sqlite:
            pytest.skip("SQLite has one write lock: the two writers take turns at it")
        customer = operator.customer()
        gate = threading.Event()
        held = asyncio.create_task(runtime.worker.writer.submit(Gate(gate)))  # holds it up to 5 s
        await asyncio.sleep(0.05)
        try:
            body = {"to": "07700000001", "text": "While the worker writes", "sender": "Qasid"}
            sent = await asyncio.wait_for(http.post("/v1/messages", json=body, headers=customer.headers), 3)
            assert sent.status_code == 202, sent.text
            assert not held.done()
        finally:
            gate.set()
            await held
