"""Group commit: many requests' writes share one transaction, written by one thread.

Committing once per request on the event loop costs a WAL fsync each and stalls every other request
(p99 of 350 ms to 1 s in our measurements, see docs/architecture.md). Instead a request hands a
``WriteOp`` to the writer and awaits its result. The writer thread takes whatever ops are waiting
(up to ``max_batch`` ops or ``max_rows`` rows), applies them in ONE transaction and commits once;
while it commits, the next batch gathers. Ops of the same class are applied together by their
``apply_many`` so they can use batched statements.

A business refusal (say, insufficient funds) is returned by ``apply_many`` as a ``QasidError`` in
that op's slot and does not disturb the others. If the transaction itself fails, every op of the
batch is retried alone, so one bad op cannot take its neighbours down; an op that fails alone gets
``Unavailable``. Nothing is reported as written unless its transaction committed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import structlog
from sqlalchemy import Connection

from qasid.db import Database
from qasid.errors import QasidError, Unavailable

R = TypeVar("R")
log = structlog.get_logger(__name__)


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
    loop: asyncio.AbstractEventLoop


_STOP = object()


class GroupCommitWriter:
    """Owns the writer thread. ``start()`` before use, ``stop()`` to drain and end it."""

    def __init__(self, db: Database, *, max_batch: int = 512, max_rows: int = 5000) -> None:
        self.db = db
        self.max_batch = max_batch
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="qasid-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Apply what is queued, then end the thread."""
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    async def submit(self, op: WriteOp[R]) -> R:
        """Queue ``op`` and wait until its transaction committed; raises its ``QasidError``."""
        if self._closed:
            raise Unavailable("the gateway is shutting down; nothing was written")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Item(op, future, loop))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stopping = self._gather(first)
            self._deliver(batch, self._apply(batch))
        self._refuse_leftovers()

    def _refuse_leftovers(self) -> None:
        """Ops that raced with ``stop()`` are answered, never left waiting."""
        leftovers = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                leftovers.append(item)
        refusal = Unavailable("the gateway is shutting down; nothing was written")
        self._deliver(leftovers, [refusal] * len(leftovers))

    def _gather(self, first: _Item) -> tuple[list[_Item], bool]:
        batch, rows = [first], first.op.rows
        while len(batch) < self.max_batch and rows < self.max_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is _STOP:
                return batch, True
            batch.append(item)
            rows += item.op.rows
        return batch, False

    def _apply(self, batch: list[_Item]) -> list[Any]:
        try:
            with self.db.write() as conn:
                results = _apply_grouped(conn, [item.op for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.error("write failed", op=batch[0].op.kind, error=repr(exc))
                return [Unavailable("the write could not be committed; nothing was accepted")]
            log.warning("group commit failed; retrying its ops one by one", ops=len(batch), error=repr(exc))
            return [self._apply([item])[0] for item in batch]
        self.batches += 1
        self.ops += len(batch)
        return results

    @staticmethod
    def _deliver(batch: list[_Item], results: list[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for item, result in zip(batch, results, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, result))
        for loop, pairs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, pairs)
            except RuntimeError:  # the loop closed while we wrote: nobody is waiting any more
                log.warning("event loop closed before write results were delivered", ops=len(pairs))


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


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in pairs:
        if future.done():  # the caller went away (client disconnected); the write still stands
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
