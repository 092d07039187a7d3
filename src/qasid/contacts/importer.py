"""Reading uploaded contact files into their lists: a worker's background job.

An upload is stored in chunks with its ``contact_imports`` row and queued. A worker's ``Importer``
claims one import at a time and reads it in a thread of its own (parsing a million numbers is CPU
work that must not hold up the event loop), a chunk at a time, so memory stays bounded whatever the
file's size. Every ``BATCH`` rows it writes, in one transaction: the contacts (new ones inserted,
numbers the account has already merged into their contact), the list's members, the bad rows with
their line and reason, and the import's progress. So a worker that dies mid-import leaves its
progress with the rows it wrote; the import goes back to the queue (the heartbeat takes back the
claims of dead workers) and the next worker resumes after them. When the file is done the import is
``done`` and its chunks are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from anyio import to_thread
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import InterfaceError, OperationalError

from qasid.accounts.service import require_account
from qasid.contacts.reading import FileFormat, Row, rows
from qasid.contacts.repository import ContactRepository, ImportRepository
from qasid.contacts.service import NewContact, merge_rows
from qasid.db import Database
from qasid.domain.phone import Refusal, parse_recipient
from qasid.errors import QasidError

log = structlog.get_logger(__name__)
BATCH = 5_000  # rows per transaction
QUEUED = "queued"  # an import's status once its file is in; set in conn.info too, to wake the importers
CHUNK_BYTES = 1024 * 1024  # an upload is stored in pieces of this size


@dataclass(slots=True)
class Parsed:
    """A batch's rows, numbers parsed: the good ones and the bad ones' errors, and how far into the
    file the import stands once they are written."""

    good: list[tuple[str, NewContact]]
    errors: list[tuple[str, int, str, str | None]]
    rows_read: int
    bytes_read: int


def _parse(import_id: str, region: str, batch: list[Row], rows_read: int, bytes_read: int) -> Parsed:
    parsed = Parsed([], [], rows_read, bytes_read)
    for row in batch:
        number = parse_recipient(row.number, region) if row.number else Refusal(row.number, "missing", "")
        if isinstance(number, Refusal):
            detail = number.detail or "the row has no number"
            parsed.errors.append((import_id, row.line, number.reason, f"{row.number!r}: {detail}"[:300]))
        else:
            parsed.good.append((number.e164, NewContact(row.number, row.name, row.fields)))
    return parsed


@dataclass(slots=True)
class Progress:
    rows_read: int
    bytes_read: int = 0
    added: int = 0
    merged: int = 0
    bad: int = 0


class Importer:
    def __init__(self, db: Database, worker_id: str, *, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.worker_id = worker_id
        self.poll_seconds = poll_seconds
        self._stopping = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            found = None
            try:
                found = await to_thread.run_sync(self._claim)
                if found is not None:
                    await to_thread.run_sync(self._read, found)
                    continue
            except (OperationalError, InterfaceError) as exc:  # the database is away: give it back for later
                log.warning("contact import interrupted", error=repr(exc))
                if found is not None:
                    with contextlib.suppress(OperationalError, InterfaceError):
                        await to_thread.run_sync(self._release)
            except Exception as exc:  # anything else will not mend by trying again
                log.exception("contact import failed", import_id=found and found["id"])
                if found is not None:
                    await to_thread.run_sync(self._fail, found["id"], f"internal error: {exc!r}")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def stop(self) -> None:
        """Stop after the batch being read (the rest waits for the next start)."""
        self._stopping = True
        self._wake.set()

    def _fail(self, import_id: str, error: str) -> None:
        now = datetime.now(UTC)
        with self.db.write() as conn:
            imports = ImportRepository(conn)
            imports.set(import_id, now, status="failed", error=error[:500], claimed_by=None, finished_at=now)
            imports.drop_chunks(import_id)

    def _release(self) -> None:
        with self.db.write() as conn:
            ImportRepository(conn).release_claims_of([self.worker_id])

    def _claim(self) -> RowMapping | None:
        with self.db.read() as conn:  # most polls find nothing: on SQLite a write would take the lock
            if not ImportRepository(conn).any_queued():
                return None
        with self.db.write() as conn:
            return ImportRepository(conn).claim(self.worker_id, datetime.now(UTC))

    def _read(self, job: RowMapping) -> None:
        """Read the file from where the import stands, ``BATCH`` rows to a transaction. Each batch is
        written in a thread of its own while this one reads and parses the next: the database's
        half of a batch overlaps Python's half of the next. Batches are written in order, one at a
        time, and a failed write stops the reading (its error is raised here)."""
        with self.db.read() as conn:
            region = require_account(conn, job["account_id"]).default_region
        progress = Progress(  # from where the import stands: a resumed import goes on counting
            job["rows_read"], added=job["rows_added"], merged=job["rows_merged"], bad=job["rows_bad"]
        )
        batch: list[Row] = []
        count = job["rows_read"]  # the rows the file has, once it is read
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="import-write") as writer:
                writing: Future[None] | None = None
                for count, row in enumerate(
                    rows(FileFormat(job["format"]), self._chunks(job["id"], progress)), 1
                ):
                    if count <= job["rows_read"]:
                        continue  # written before a restart
                    batch.append(row)
                    if len(batch) >= BATCH:
                        parsed = _parse(job["id"], region, batch, count, progress.bytes_read)
                        if writing is not None:
                            writing.result()
                        if self._stopping:
                            return  # still running: released when this worker stops, resumed later
                        writing = writer.submit(self._write, job, parsed, progress, finished=False)
                        batch = []
                parsed = _parse(job["id"], region, batch, count, progress.bytes_read)
                if writing is not None:
                    writing.result()
                self._write(job, parsed, progress, finished=True)
        except QasidError as exc:  # the file itself is wrong (no number column, not XLSX...)
            self._fail(job["id"], exc.detail)
        log.info("contact import read", import_id=job["id"], rows=progress.rows_read)

    def _chunks(self, import_id: str, progress: Progress) -> Iterator[bytes]:
        """The file, a chunk at a time, each read in a short transaction of its own."""
        seq = 0
        while True:
            with self.db.read() as conn:
                found = ImportRepository(conn).chunk(import_id, seq)
            if found is None:
                return
            progress.bytes_read += len(found)
            yield found
            seq += 1

    def _write(self, job: RowMapping, parsed: Parsed, progress: Progress, *, finished: bool) -> None:
        now = datetime.now(UTC)
        with self.db.write() as conn:
            self._write_batch(conn, job, good=parsed.good, errors=parsed.errors, progress=progress, now=now)
            values: dict[str, object] = {
                "rows_read": parsed.rows_read, "bytes_read": parsed.bytes_read,
                "rows_added": progress.added, "rows_merged": progress.merged, "rows_bad": progress.bad,
            }  # fmt: skip
            if finished:
                values.update(status="done", claimed_by=None, finished_at=now, bytes_read=job["size_bytes"])
            imports = ImportRepository(conn)
            imports.set(job["id"], now, **values)
            if finished:
                imports.drop_chunks(job["id"])
        progress.rows_read = parsed.rows_read

    @staticmethod
    def _write_batch(
        conn: Connection,
        job: RowMapping,
        *,
        good: list[tuple[str, NewContact]],
        errors: list[tuple[str, int, str, str | None]],
        progress: Progress,
        now: datetime,
    ) -> None:
        repo = ContactRepository(conn)
        numbers = [number for number, _ in good]
        unique = set(numbers)
        there = repo.existing(job["account_id"], list(unique))
        found = repo.merge(merge_rows(job["account_id"], good, now))
        repo.join([(job["list_id"], found[number], now) for number in unique])
        ImportRepository(conn).add_errors(errors)
        progress.added += len(unique) - len(there)
        progress.merged += len(numbers) - (len(unique) - len(there))
        progress.bad += len(errors)
