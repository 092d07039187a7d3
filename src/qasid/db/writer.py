"""Group commit: many requests' writes share one transaction, written by one thread.

Committing once per request on the event loop costs a WAL fsync each and stalls every other request
(p99 of 350 ms to 1 s in our measurements, see docs/architecture.md). Instead a request hands a
``WriteOp`` to the writer and awaits its result. The writer thread takes whatever ops are waiting
(up to ``max_batch`` ops or ``max_rows`` rows), applies them in ONE transaction on its own
connection and commits once; meanwhile the next batch gathers. Ops of the same class are applied
together by their ``apply_many``.

A business refusal (say, insufficient funds) is returned by ``apply_many`` as a ``QasidError`` in
that op's slot and does not disturb the others. If the transaction fails, every op of the batch is
retried alone, so one bad op cannot take its neighbours down; if the database cannot be reached,
every op gets ``Unavailable``. Nothing is reported as written unless its transaction committed.

Under load the writer lingers: when the queue runs dry before a batch is full, and the last batch
held more than one op, it waits ``linger`` (``QASID_WRITER_LINGER_MS``, 2 ms) once for more, as
PostgreSQL's ``commit_delay`` does. Fewer, fuller transactions cost fewer statements per message:
through SMPP end to end went from 1,841-1,921 to 2,022-2,063 messages/s and CPU per message fell
10% (docs/performance.md). A lone request (the last batch held one op) is written at once.

The number of database calls per transaction matters more than the number of rows. Each call from
this thread gives up the GIL and, while the event loop is busy, waits for it to come back (a 30-row
``executemany``, one call per row, took 0.4 ms alone and 290 ms beside a busy thread). So
``apply_many`` implementations write with ``qasid.db.bulk``: a fixed handful of statements per
batch, whose rows' database work runs on the other core while the loop serves requests; and a class
whose work starts with reads plans them (``WriteOp.plan``), so that on PostgreSQL the reads of the
planned classes of a transaction cost one round trip between them. Running the
transaction on the event loop itself instead measured no faster for single-recipient requests,
slower for 500-recipient ones, and with a worse p99 (the loop stalls for each commit's fsync):
docs/performance.md.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from qasid.db import Database
from qasid.db.bulk import Query, deferring, fetch
from qasid.errors import QasidError, Unavailable

R = TypeVar("R")
log = structlog.get_logger(__name__)


class WriteOp(Generic[R]):
    """One unit of work for the writer. Subclasses implement ``apply_many``.

    Within one transaction the ops of a class are applied together, classes in order of ``phase``
    and then of their first op's arrival. Ops that share a transaction were concurrent, so their
    order is the writer's to choose; ``phase`` lets a class go after those whose writes it reads
    (delivery reports after the records of the submits they report on).

    Locks that must come before all others (carriers' parts, before any account's row) are not left
    to the classes' order: a class names them (``lock_keys``) and the function that takes them
    (``locker``), and the writer takes every class's at once, sorted, before any op applies. So
    every transaction takes them in one order, whatever its ops lock afterwards, and two
    transactions cannot each hold a key the other waits for."""

    rows: int = 1
    kind: ClassVar[str] = "write"
    phase: ClassVar[int] = 0
    # Takes the given keys' locks until the transaction ends, in the order given (sorted).
    locker: ClassVar[Callable[[Connection, list[Any]], None] | None] = None

    @classmethod
    def lock_keys(cls, ops: Sequence[Self]) -> Iterable[Any]:
        """The keys (for ``locker``) that ``ops`` will need locked: taken before any op applies."""
        return ()

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[R | QasidError]:
        """Apply ``ops`` in order inside the open transaction ``conn``; one result per op."""
        raise NotImplementedError

    @classmethod
    def plan(cls, conn: Connection, ops: Sequence[Self]) -> Plan[R] | None:
        """For a class whose work starts with reads: those reads as queries, and the rest of the
        work given their answers (``Plan``), or None (the default) to be applied by ``apply_many``
        alone. The writer sends the reads of the planned classes that come one after another in a
        transaction's order together, in one round trip (``qasid.db.bulk.fetch``), before any of
        them writes: so a class plans only reads that may miss the writes of the planned classes
        before it in the same transaction. They never miss those of a class that does not plan."""
        return None


@dataclass(slots=True)
class Plan(Generic[R]):
    """``WriteOp.plan``'s answer: the reads, and what to do with their answers (in order)."""

    queries: Sequence[Query[Any]]
    then: Callable[[list[Any]], Sequence[R | QasidError]]

    def run(self, conn: Connection) -> Sequence[R | QasidError]:
        return self.then(fetch(conn, self.queries))


@dataclass(slots=True)
class _Item:
    op: WriteOp[Any]
    future: asyncio.Future[Any]


_STOP = object()
_UNREACHABLE = (OperationalError, InterfaceError)
# PostgreSQL's deadlock_detected and serialization_failure: another transaction (another writer, a
# campaign chunk, another process) met this one; nothing was written, and trying again succeeds.
_CONFLICTS = frozenset({"40P01", "40001"})
_CONFLICT_TRIES = 3
_CLOSING = "the gateway is shutting down; nothing was written"


class GroupCommitWriter:
    """``start()`` on the event loop that will submit; ``await stop()`` to apply what is queued and end."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 512,
        max_rows: int = 5000,
        linger: float = 0.0,
        name: str = "qasid-writer",
    ) -> None:
        self.db = db
        self.name = name
        self.max_batch = max_batch
        self.max_rows = max_rows
        self.linger = linger
        self._busy = False  # the last batch held more than one op: the writer is under load
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._closed = False
        self._on_commit: dict[str, Callable[[Any], None]] = {}
        self.connection_info: dict[str, Any] = {}  # put in ``conn.info`` for every transaction
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def on_commit(self, flag: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` on the event loop with ``conn.info[flag]`` after every transaction in
        which an op set it (new work for someone to pick up, say; or the work itself)."""
        self._on_commit[flag] = callback

    async def submit(self, op: WriteOp[R]) -> R:
        """Queue ``op`` and wait until its transaction committed; raises its ``QasidError``."""
        if self._closed or self._loop is None:
            raise Unavailable(_CLOSING)
        future: asyncio.Future[R] = self._loop.create_future()
        self._queue.put(_Item(op, future))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stopping = self._gather(first)
            results, stopping = self._write(batch, stopping)
            self._deliver(batch, results)
        log.info("writer stopped", batches=self.batches, ops=self.ops)
        self._disconnect()
        leftovers = [item for item in iter(self._next, None) if item is not _STOP]
        self._deliver(leftovers, [Unavailable(_CLOSING)] * len(leftovers))

    def _next(self) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _gather(self, first: _Item) -> tuple[list[_Item], bool]:
        """What to write next: every op waiting, up to the limits. Under load, when the queue runs
        dry before the batch is full, wait ``linger`` once for more (see the module doc)."""
        batch = [first]
        return batch, self._fill(batch, linger=bool(self.linger) and self._busy)

    def _fill(self, batch: list[_Item], *, linger: bool) -> bool:
        """Add waiting ops to ``batch`` up to the limits; True when the writer is told to stop."""
        rows = sum(item.op.rows for item in batch)
        while len(batch) < self.max_batch and rows < self.max_rows:
            item = self._next()
            if item is None:
                if not linger:
                    return False
                linger = False
                time.sleep(self.linger)
                continue
            if item is _STOP:
                return True
            batch.append(item)
            rows += item.op.rows
        return False

    def _write(self, batch: list[_Item], stopping: bool) -> tuple[list[Any], bool]:
        """Apply ``batch`` under the database's write lock (SQLite's, shared with the other writers:
        the worker's, another process's). What queued while this writer waited for the lock joins
        the batch, so that under contention the transactions grow instead of each op waiting a turn
        of its own."""
        with ExitStack() as held:
            try:
                held.enter_context(self.db.write_lock())
            except OSError as exc:
                log.error("the write lock could not be taken", ops=len(batch), error=repr(exc))
                refused = Unavailable("the database is unavailable; nothing was accepted")
                return [refused] * len(batch), stopping
            if not stopping:
                stopping = self._fill(batch, linger=False)
            self._busy = len(batch) > 1
            return self._apply(batch), stopping

    def _deliver(self, batch: list[_Item], results: list[Any]) -> None:
        """One wake-up of the event loop per batch."""
        if batch and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve, [item.future for item in batch], results)

    def _apply(self, batch: list[_Item], tries: int = _CONFLICT_TRIES) -> list[Any]:
        try:
            results = self._transaction([item.op for item in batch])
        except _UNREACHABLE as exc:
            if _conflict(exc) and tries > 1:
                log.info("write conflict; trying again", ops=len(batch), error=repr(exc))
                return self._apply(batch, tries - 1)
            log.error("database unavailable", ops=len(batch), error=repr(exc))
            return [Unavailable("the database is unavailable; nothing was accepted")] * len(batch)
        except Exception as exc:  # noqa: BLE001 - any failure of one op must not fail its neighbours
            if len(batch) == 1:
                log.error("write failed", op=batch[0].op.kind, error=repr(exc))
                return [Unavailable("the write could not be committed; nothing was accepted")]
            log.warning("group commit failed; retrying its ops one by one", ops=len(batch), error=repr(exc))
            return [self._apply([item])[0] for item in batch]
        self.batches += 1
        self.ops += len(batch)
        return results

    def _transaction(self, ops: list[WriteOp[Any]]) -> list[Any]:
        if self._conn is None:
            self._conn = self.db.writer_connection()
        conn, info = self._conn, self._conn.info
        info.update(self.connection_info)
        try:
            try:
                # On PostgreSQL the writes that return nothing go in one round trip, before the next
                # read and before the commit (qasid.db.bulk).
                # (SQLite's write lock is held around this: ``_write``.)
                with conn.begin(), deferring(conn):
                    results = _apply_grouped(conn, ops)
            finally:
                # What the ops left for after the commit, taken whatever happened and before the
                # connection may be dropped: ``info`` belongs to the driver's connection, which goes
                # back to the pool, and to other users, when it is.
                left = [
                    (self._on_commit[flag], info.pop(flag)) for flag in list(info) if flag in self._on_commit
                ]
                for key in self.connection_info:
                    info.pop(key, None)
        except _UNREACHABLE as exc:
            if not _conflict(exc):
                self._disconnect()  # a fresh connection for the next batch
            raise
        if self._loop is not None:
            for callback, value in left:
                if value:
                    self._loop.call_soon_threadsafe(callback, value)
        return results

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - a dead connection may fail to close; it is dropped
                log.warning("closing the writer connection failed", error=repr(exc))


def _conflict(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICTS


def _apply_grouped(conn: Connection, ops: list[WriteOp[Any]]) -> list[Any]:
    groups: dict[type[WriteOp[Any]], list[int]] = {}
    for index, op in enumerate(ops):
        groups.setdefault(type(op), []).append(index)
    results: list[Any] = [None] * len(ops)
    _take_locks(conn, ops, groups)
    planned: list[tuple[list[int], Plan[Any]]] = []  # planned classes in a row, their reads not yet sent

    def run_planned() -> None:
        if not planned:
            return
        answers = iter(fetch(conn, [query for _, plan in planned for query in plan.queries]))
        for indexes, plan in planned:
            outcomes = plan.then([next(answers) for _ in plan.queries])
            for index, outcome in zip(indexes, outcomes, strict=True):
                results[index] = outcome
        planned.clear()

    for cls, indexes in sorted(groups.items(), key=lambda group: group[0].phase):  # stable: arrival order
        group = [ops[i] for i in indexes]
        plan = cls.plan(conn, group)
        if plan is not None:
            planned.append((indexes, plan))
            continue
        run_planned()
        for index, outcome in zip(indexes, cls.apply_many(conn, group), strict=True):
            results[index] = outcome
    run_planned()
    return results


def _resolve(futures: list[asyncio.Future[Any]], results: list[Any]) -> None:
    for future, result in zip(futures, results, strict=True):
        if future.done():  # the caller went away (client disconnected); the write still stands
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


@dataclass(slots=True)
class Apply(WriteOp[R]):
    """A small write through the group commit (a customer's or an operator's change of settings):
    ``fn`` runs in a savepoint of its own, so one that raises a ``QasidError`` leaves nothing behind
    and does not disturb the others."""

    fn: Callable[[Connection], R]

    kind = "apply"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[R | QasidError]:
        results: list[R | QasidError] = []
        for op in ops:
            try:
                with conn.begin_nested():
                    results.append(op.fn(conn))
            except QasidError as exc:
                results.append(exc)
        return results


def _take_locks(
    conn: Connection, ops: list[WriteOp[Any]], groups: dict[type[WriteOp[Any]], list[int]]
) -> None:
    """Every class's ``lock_keys``, each locker's once and sorted, before any op applies."""
    wanted: dict[Callable[[Connection, list[Any]], None], set[Any]] = {}
    for cls, indexes in groups.items():
        if cls.locker is not None:
            wanted.setdefault(cls.locker, set()).update(cls.lock_keys([ops[i] for i in indexes]))
    for locker, keys in wanted.items():
        if keys:
            locker(conn, sorted(keys))
