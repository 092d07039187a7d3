"""The outbox's upkeep, run by every worker: registering, beating, and taking back what dead
workers held."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Self

from sqlalchemy import Connection, select, update

from qasid.campaigns.repository import CampaignRepository
from qasid.contacts.repository import ImportRepository
from qasid.db.writer import WriteOp
from qasid.errors import QasidError
from qasid.models import jobs
from qasid.outbox.repository import JobRepository, WorkerRepository
from qasid.webhooks.repository import DeliveryRepository


@dataclass(slots=True)
class RegisterWorker(WriteOp[None]):
    worker_id: str
    role: str
    hostname: str
    pid: int
    now: datetime

    kind = "worker"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        for op in ops:
            WorkerRepository(conn).register(op.worker_id, op.role, op.hostname, op.pid, op.now)
        return [None] * len(ops)


@dataclass(slots=True)
class Beat(WriteOp[int]):
    """This worker is alive; workers silent for ``dead_after`` are stopped and their jobs released,
    and so are this worker's own claims older than ``dead_after`` that nothing is working on
    (``in_flight`` are): their outcome could not be written. Younger claims are left alone, since
    the in-flight snapshot may predate them."""

    worker_id: str
    now: datetime
    dead_after: timedelta
    in_flight: frozenset[int] = field(default_factory=frozenset)

    kind = "worker"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[int | QasidError]:
        return [_beat(conn, op) for op in ops]


def _beat(conn: Connection, op: Beat) -> int:
    workers = WorkerRepository(conn)
    workers.heartbeat(op.worker_id, op.now)
    dead = [w for w in workers.silent_since(op.now - op.dead_after) if w != op.worker_id]
    deliveries = DeliveryRepository(conn)
    recovered = JobRepository(conn).release_claims_of(dead) + deliveries.release_claims_of(dead)
    recovered += deliveries.release_claims_of_stopped()
    ImportRepository(conn).release_claims_of(dead)
    CampaignRepository(conn).release_claims_of(dead)
    workers.stop(dead, op.now)
    _release_orphans(conn, op.worker_id, op.in_flight, op.now - op.dead_after)
    return recovered


def _release_orphans(conn: Connection, worker_id: str, in_flight: frozenset[int], before: datetime) -> None:
    """Claims of this worker made before ``before`` that no task is working on."""
    orphans = select(jobs.c.id).where(jobs.c.claimed_by == worker_id, jobs.c.claimed_at < before)
    found = [job_id for job_id in conn.execute(orphans).scalars() if job_id not in in_flight]
    if found:
        conn.execute(update(jobs).where(jobs.c.id.in_(found)).values(claimed_by=None, claimed_at=None))


@dataclass(slots=True)
class StopWorker(WriteOp[None]):
    worker_id: str
    now: datetime

    kind = "worker"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        ids = [op.worker_id for op in ops]
        JobRepository(conn).release_claims_of(ids)
        DeliveryRepository(conn).release_claims_of(ids)
        ImportRepository(conn).release_claims_of(ids)
        CampaignRepository(conn).release_claims_of(ids)
        WorkerRepository(conn).stop(ids, max(op.now for op in ops))
        return [None] * len(ops)
