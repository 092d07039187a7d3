"""All SQL about jobs and workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from qasid.db.bulk import bulk_insert, bulk_update, one_of
from qasid.models import jobs, workers
from qasid.outbox.records import Job, JobKind

NEW_JOB_COLUMNS = ("kind", "message_id", "run_at", "attempts", "created_at", "lane")
JOBS_CHANNEL = "qasid_jobs"  # PostgreSQL LISTEN/NOTIFY channel: new jobs were committed


def _job(row: Any) -> Job:
    return Job(
        id=row.id, kind=JobKind(row.kind), message_id=row.message_id, attempts=row.attempts, run_at=row.run_at
    )


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: Sequence[tuple[str, str | None, datetime, int, datetime, int]]) -> None:
        """New jobs: (kind, message_id, run_at, attempts, created_at, lane)."""
        bulk_insert(self.conn, jobs, rows, NEW_JOB_COLUMNS)

    def claim(self, worker_id: str, now: datetime, limit: int) -> list[Job]:
        """Take up to ``limit`` due jobs for ``worker_id``: one statement, safe under concurrency
        (PostgreSQL skips rows another worker is claiming; SQLite holds the write lock)."""
        due = select(jobs.c.id).where(jobs.c.claimed_by.is_(None), jobs.c.run_at <= now)
        due = due.order_by(jobs.c.lane, jobs.c.run_at).limit(limit)  # urgent ones first
        if self.conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(jobs)
            .where(jobs.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker_id, claimed_at=now)
            .returning(jobs.c.id, jobs.c.kind, jobs.c.message_id, jobs.c.attempts, jobs.c.run_at, jobs.c.lane)
        )
        claimed = sorted(self.conn.execute(statement), key=lambda row: (row.lane, row.run_at))
        return [_job(row) for row in claimed]

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
            self.conn.exec_driver_sql(f"DELETE FROM jobs WHERE {condition}", params)  # noqa: S608 - fixed text

    def delete_for_messages(self, message_ids: Sequence[str]) -> None:
        """The messages' jobs, except fallbacks: a message that ends is what a fallback waits for."""
        if message_ids:
            condition, params = one_of(self.conn, jobs.c.message_id, message_ids)
            self.conn.exec_driver_sql(
                f"DELETE FROM jobs WHERE {condition} AND kind <> '{JobKind.FALLBACK.value}'",  # noqa: S608 - fixed text
                params,
            )

    def expedite_fallbacks(self, message_ids: Sequence[str], now: datetime) -> None:
        """The messages' waiting fallback jobs become due now."""
        if message_ids:
            self.conn.execute(
                update(jobs)
                .where(
                    jobs.c.message_id.in_(message_ids),
                    jobs.c.kind == JobKind.FALLBACK.value,
                    jobs.c.claimed_by.is_(None),
                    jobs.c.run_at > now,
                )
                .values(run_at=now)
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
