"""Group commit: many requests' writes share one transaction, written by one writer.

Committing once per request on the event loop costs a WAL fsync each and stalls every other request
(p99 of 350 ms to 1 s in our measurements, see docs/architecture.md). Instead a request hands a
``WriteOp`` to the writer and awaits its result. The writer takes whatever ops are waiting (up to
``max_batch`` ops or ``max_rows`` rows), applies them in ONE transaction on its own connection and
commits once; meanwhile the next batch gathers. Ops of the same class are applied together by their
``apply_many``, with a fixed handful of statements per batch (``qasid.db.bulk``).

A business refusal (say, insufficient funds) is returned by ``apply_many`` as a ``QasidError`` in
that op's slot and does not disturb the others. If the transaction fails, every op of the batch is
retried alone, so one bad op cannot take its neighbours down; if the database cannot be reached,
every op gets ``Unavailable``. Nothing is reported as written unless its transaction committed.

Where the transaction runs is the writer's ``mode``:

- ``inline``: on the event loop itself, between requests. No thread and no GIL hand-off; the loop
  pauses for the batch's statements and its commit (SQLite: microseconds per row and one fsync).
  The write lock is never waited for inside SQLite (which would freeze the loop): when another
  process holds it, the writer sleeps and tries again for up to ``LOCK_WAIT_SECONDS``.
- ``thread``: in a thread that owns the connection, so the database's own work runs on another
  core. Each call from that thread gives up the GIL and, while the loop is busy, waits to get it
  back (a 30-row ``executemany``, one call per row, took 0.4 ms alone and 290 ms beside a busy
  thread), which is why the statements per batch are few.

``inline`` is the default: it measured faster on SQLite and on a local PostgreSQL
(docs/performance.md). ``thread`` is for a database far enough away that each statement's round
trip would hold the loop up.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from qasid.db import Database
from qasid.errors import QasidError, Unavailable

R = TypeVar("R")
Mode = Literal["inline", "thread"]
log = structlog.get_logger(__name__)
LOCK_WAIT_SECONDS = 30.0


class WriteOp(Generic[R]):
    """One unit of work for the writer. Subclasses implement ``apply_many``."""

    rows: int = 1
    kind: ClassVar[str] = "write"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[R | QasidError]:
        """Apply ``ops`` in order inside the open transaction ``conn``; one result per op."""
        raise NotImplementedError


@dataclass(slots=True)
class _Item:
    op: WriteOp[Any]
    future: asyncio.Future[Any]


class _Locked(Exception):
    """Another process holds SQLite's write lock; try the batch again shortly."""


_STOP = object()
_UNREACHABLE = (OperationalError, InterfaceError)
_CLOSING = "the gateway is shutting down; nothing was written"


class GroupCommitWriter:
    """``start()`` on the event loop that will submit; ``await stop()`` to apply what is queued and end."""

    def __init__(self, db: Database, *, mode: Mode, max_batch: int = 512, max_rows: int = 5000) -> None:
        self.db = db
        self.mode = mode
        self.max_batch = max_batch
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | threading.Thread | None = None
        self._conn: Connection | None = None
        self._closed = False
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.mode == "inline":
            self._worker = self._loop.create_task(self._run_inline(), name="qasid-writer")
        else:
            self._worker = threading.Thread(target=self._run_thread, name="qasid-writer", daemon=True)
            self._worker.start()

    async def stop(self) -> None:
        self._closed = True
        self._queue.put(_STOP)
        self._wake.set()
        if isinstance(self._worker, threading.Thread):
            await asyncio.to_thread(self._worker.join)
        elif self._worker is not None:
            await self._worker

    async def submit(self, op: WriteOp[R]) -> R:
        """Queue ``op`` and wait until its transaction committed; raises its ``QasidError``."""
        if self._closed or self._loop is None:
            raise Unavailable(_CLOSING)
        future: asyncio.Future[R] = self._loop.create_future()
        self._queue.put(_Item(op, future))
        self._wake.set()
        return await future

    async def _run_inline(self) -> None:
        stopping = False
        while not stopping:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let requests that are ready join this batch
            while not stopping and (first := self._next()) is not None:
                if first is _STOP:
                    break
                batch, stopping = self._gather(first)
                _resolve([item.future for item in batch], await self._apply_inline(batch))
                await asyncio.sleep(0)
            stopping = stopping or self._closed
        self._finish()

    async def _apply_inline(self, batch: list[_Item]) -> list[Any]:
        deadline, delay = time.monotonic() + LOCK_WAIT_SECONDS, 0.001
        while True:
            try:
                return self._apply(batch)
            except _Locked:
                if time.monotonic() > deadline:
                    return [Unavailable("the database stayed locked; nothing was accepted")] * len(batch)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _run_thread(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stopping = self._gather(first)
            results = self._apply(batch)
            assert self._loop is not None  # noqa: S101 - set by start()
            self._loop.call_soon_threadsafe(_resolve, [item.future for item in batch], results)
        self._finish()

    def _next(self) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _gather(self, first: _Item) -> tuple[list[_Item], bool]:
        batch, rows = [first], first.op.rows
        while len(batch) < self.max_batch and rows < self.max_rows:
            item = self._next()
            if item is None:
                return batch, False
            if item is _STOP:
                return batch, True
            batch.append(item)
            rows += item.op.rows
        return batch, False

    def _finish(self) -> None:
        log.info("writer stopped", mode=self.mode, batches=self.batches, ops=self.ops)
        self._disconnect()
        leftovers = []
        while (item := self._next()) is not None:
            if item is not _STOP:
                leftovers.append(item)
        if leftovers and self._loop is not None:
            futures = [item.future for item in leftovers]
            self._loop.call_soon_threadsafe(_resolve, futures, [Unavailable(_CLOSING)] * len(futures))

    def _apply(self, batch: list[_Item]) -> list[Any]:
        try:
            results = self._transaction([item.op for item in batch])
        except _Locked:
            raise
        except _UNREACHABLE as exc:
            log.error("database unavailable", ops=len(batch), error=repr(exc))
            return [Unavailable("the database is unavailable; nothing was accepted")] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.error("write failed", op=batch[0].op.kind, error=repr(exc))
                return [Unavailable("the write could not be committed; nothing was accepted")]
            log.warning("group commit failed; retrying its ops one by one", ops=len(batch), error=repr(exc))
            return [self._apply([item])[0] for item in batch]
        self.batches += 1
        self.ops += len(batch)
        return results

    def _transaction(self, ops: list[WriteOp[Any]]) -> list[Any]:
        conn = self._connection()
        try:
            transaction = conn.begin()
        except OperationalError as exc:
            if self.mode == "inline" and "locked" in str(exc.orig):
                raise _Locked from exc
            self._disconnect()
            raise
        try:
            with transaction:
                return _apply_grouped(conn, ops)
        except _UNREACHABLE:
            self._disconnect()  # a fresh connection for the next batch
            raise

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.db.writer_connection(wait_for_lock=self.mode == "thread")
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except Exception as exc:
                log.warning("closing the writer connection failed", error=repr(exc))


def _apply_grouped(conn: Connection, ops: list[WriteOp[Any]]) -> list[Any]:
    groups: dict[type[WriteOp[Any]], list[int]] = {}
    for index, op in enumerate(ops):
        groups.setdefault(type(op), []).append(index)
    results: list[Any] = [None] * len(ops)
    for cls, indexes in groups.items():
        outcomes = cls.apply_many(conn, [ops[i] for i in indexes])
        for index, outcome in zip(indexes, outcomes, strict=True):
            results[index] = outcome
    return results


def _resolve(futures: list[asyncio.Future[Any]], results: list[Any]) -> None:
    for future, result in zip(futures, results, strict=True):
        if future.done():  # the caller went away (client disconnected); the write still stands
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
