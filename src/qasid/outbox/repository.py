"""All SQL about jobs and workers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect, and_, func, insert, select, update

from qasid.db.bulk import (
    bind_time,
    bulk_insert,
    bulk_update,
    execute,
    one_of,
    placeholder,
    result_processors,
    rows_as_dicts,
    write,
)
from qasid.models import jobs, workers
from qasid.outbox.records import Job, JobKind, Lane

NEW_JOB_COLUMNS = ("kind", "message_id", "run_at", "attempts", "created_at", "lane")
JOBS_CHANNEL = "qasid_jobs"  # PostgreSQL LISTEN/NOTIFY channel: new jobs were committed


def _job(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        kind=JobKind(row["kind"]),
        message_id=row["message_id"],
        attempts=row["attempts"],
        run_at=row["run_at"],
    )


_CLAIMED = ("id", "kind", "message_id", "attempts", "run_at", "lane")


@cache
def _claim_sql(dialect: Dialect) -> tuple[str, tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """The claim's text for ``dialect`` and the result processors of what it returns.

    Each lane is read on its own, from the due index (lane, run_at; unclaimed rows only) in run_at
    order up to the limit, and the few rows found are then ordered by lane: walking the index by
    (lane, run_at) with ``run_at <= now`` as a filter went on through every job of lane 0 that is not
    due yet (a sent message's expiry, a fallback's timeout) before it reached lane 1, on every
    claim. Parameters: (worker, now, then now and the limit for each lane, the limit)."""
    mark, lock = placeholder(dialect), " FOR UPDATE SKIP LOCKED" if dialect.name == "postgresql" else ""
    # Fixed text: placeholders, our own names and the lanes' numbers only.
    lanes = " UNION ALL ".join(
        f"SELECT id, lane, run_at FROM (SELECT jobs.id, jobs.lane, jobs.run_at FROM jobs "  # noqa: S608
        f"WHERE jobs.claimed_by IS NULL AND jobs.lane = {lane.value} AND jobs.run_at <= {mark} "
        f"ORDER BY jobs.run_at LIMIT {mark}{lock}) AS lane_{lane.value}"
        for lane in Lane
    )
    sql = f"UPDATE jobs SET claimed_by = {mark}, claimed_at = {mark} WHERE jobs.id IN ("  # noqa: S608
    sql += f"SELECT id FROM ({lanes}) AS due ORDER BY lane, run_at LIMIT {mark}) "  # noqa: S608
    sql += f"RETURNING {', '.join(_CLAIMED)}"
    return sql, result_processors(dialect, [jobs.c[name].type for name in _CLAIMED])


def _claim_params(worker_id: str, stamp: Any, limit: int) -> tuple[Any, ...]:
    return (worker_id, stamp, *((stamp, limit) * len(Lane)), limit)


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: Sequence[tuple[str, str | None, datetime, int, datetime, int]]) -> None:
        """New jobs: (kind, message_id, run_at, attempts, created_at, lane)."""
        bulk_insert(self.conn, jobs, rows, NEW_JOB_COLUMNS)

    def claim(self, worker_id: str, now: datetime, limit: int) -> list[Job]:
        """Take up to ``limit`` due jobs for ``worker_id``: one statement, safe under concurrency
        (PostgreSQL skips rows another worker is claiming; SQLite holds the write lock). Our own
        text through the driver: the Core statement cost more to build and read than to run."""
        sql, returned = _claim_sql(self.conn.dialect)
        stamp = bind_time(self.conn.dialect)(now)
        found = execute(self.conn, sql, _claim_params(worker_id, stamp, limit))
        rows = rows_as_dicts(found, _CLAIMED, returned)
        rows.sort(key=lambda row: (row["lane"], row["run_at"]))  # urgent ones first
        return [_job(row) for row in rows]

    def release(self, rows: Sequence[tuple[int, datetime, int, str | None]]) -> None:
        """Give jobs back to the queue: (id, run_at, attempts, last_error)."""
        values = [(job_id, run_at, attempts, error, None, None) for job_id, run_at, attempts, error in rows]
        bulk_update(
            self.conn, jobs, "id", ("run_at", "attempts", "last_error", "claimed_by", "claimed_at"), values
        )

    def become(self, rows: Sequence[tuple[int, str, datetime]]) -> None:
        """Turn claimed jobs into other unclaimed work: (id, kind, run_at)."""
        values = [(job_id, kind, run_at, 0, None, None) for job_id, kind, run_at in rows]
        bulk_update(self.conn, jobs, "id", ("kind", "run_at", "attempts", "claimed_by", "claimed_at"), values)

    def delete(self, job_ids: Sequence[int]) -> None:
        if job_ids:
            condition, params = one_of(self.conn, jobs.c.id, job_ids)
            write(self.conn, f"DELETE FROM jobs WHERE {condition}", params)  # noqa: S608 - fixed text

    def delete_for_messages(self, message_ids: Sequence[str]) -> None:
        """The messages' jobs, except fallbacks: a message that ends is what a fallback waits for."""
        if message_ids:
            condition, params = one_of(self.conn, jobs.c.message_id, message_ids)
            write(
                self.conn,
                f"DELETE FROM jobs WHERE {condition} AND kind <> '{JobKind.FALLBACK.value}'",  # noqa: S608 - fixed text
                params,
            )

    def expedite_fallbacks(self, message_ids: Sequence[str], now: datetime) -> None:
        """The messages' waiting fallback jobs become due now."""
        if message_ids:
            condition, params = one_of(self.conn, jobs.c.message_id, message_ids)
            stamp, mark = bind_time(self.conn.dialect)(now), placeholder(self.conn.dialect)
            execute(
                self.conn,
                f"UPDATE jobs SET run_at = {mark} WHERE {condition} AND jobs.kind = "  # noqa: S608 - fixed text
                f"'{JobKind.FALLBACK.value}' AND jobs.claimed_by IS NULL AND jobs.run_at > {mark}",
                (stamp, *params, stamp),
            )

    def release_claims_of(self, worker_ids: Sequence[str]) -> int:
        """Jobs held by these (dead or stopping) workers go back to the queue as they were."""
        if not worker_ids:
            return 0
        statement = (
            update(jobs).where(jobs.c.claimed_by.in_(worker_ids)).values(claimed_by=None, claimed_at=None)
        )
        return int(self.conn.execute(statement).rowcount)

    def depth(self, now: datetime) -> tuple[int, datetime | None]:
        """How many jobs are due and unclaimed, and the oldest due time among them."""
        query = select(func.count(), func.min(jobs.c.run_at)).where(
            jobs.c.claimed_by.is_(None), jobs.c.run_at <= now
        )
        count, oldest = self.conn.execute(query).one()
        return int(count), oldest

    def next_due(self) -> datetime | None:
        query = select(func.min(jobs.c.run_at)).where(jobs.c.claimed_by.is_(None))
        value: datetime | None = self.conn.execute(query).scalar_one()
        return value


class WorkerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def register(self, worker_id: str, role: str, hostname: str, pid: int, now: datetime) -> None:
        values = {"id": worker_id, "role": role, "hostname": hostname, "pid": pid}
        self.conn.execute(insert(workers).values(**values, started_at=now, heartbeat_at=now, stopped_at=None))

    def heartbeat(self, worker_id: str, now: datetime) -> None:
        self.conn.execute(update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now))

    def stop(self, worker_ids: Sequence[str], now: datetime) -> None:
        if worker_ids:
            self.conn.execute(update(workers).where(workers.c.id.in_(worker_ids)).values(stopped_at=now))

    def silent_since(self, cutoff: datetime) -> list[str]:
        """Workers that neither stopped nor beat since ``cutoff``: presumed dead."""
        query = select(workers.c.id).where(
            and_(workers.c.stopped_at.is_(None), workers.c.heartbeat_at < cutoff)
        )
        return list(self.conn.execute(query).scalars())

    def alive_since(self, cutoff: datetime) -> int:
        query = select(func.count()).where(workers.c.stopped_at.is_(None), workers.c.heartbeat_at >= cutoff)
        return int(self.conn.execute(query).scalar_one())
