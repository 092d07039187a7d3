"""The simulator's own record of what reached "the phones" (``simulator_inbox``), kept in the
gateway's database through the group-commit writer so it survives restarts like a real SMSC's would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from anyio import to_thread
from sqlalchemy import Connection, select

from qasid.db import Database
from qasid.db.bulk import bulk_insert, bulk_update
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.errors import QasidError
from qasid.models import simulator_inbox

COLUMNS = (
    "connector_id",
    "carrier_id",
    "message_id",
    "account_id",
    "recipient",
    "sender",
    "body",
    "part",
    "parts",
    "outcome",
    "report_at",
    "reported_at",
    "received_at",
)


@dataclass(frozen=True, slots=True)
class Received:
    """One part as the simulated phone network took it, and what it will report about it."""

    connector_id: str
    carrier_id: str
    message_id: str
    account_id: str
    recipient: str
    sender: str
    body: str
    part: int
    parts: int
    outcome: str  # a MessageStatus, or "none" for a part that is never reported
    report_at: datetime | None
    received_at: datetime

    def row(self) -> tuple[object, ...]:
        return (
            self.connector_id, self.carrier_id, self.message_id, self.account_id, self.recipient,
            self.sender, self.body, self.part, self.parts, self.outcome, self.report_at, None,
            self.received_at,
        )  # fmt: skip


@dataclass(slots=True)
class _Record(WriteOp[None]):
    received: Sequence[Received]

    kind = "simulator"

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.received)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        bulk_insert(conn, simulator_inbox, [r.row() for op in ops for r in op.received], COLUMNS)
        return [None] * len(ops)


@dataclass(slots=True)
class _MarkReported(WriteOp[None]):
    carrier_ids: Sequence[str]
    at: datetime

    kind = "simulator"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        rows = [(carrier_id, op.at) for op in ops for carrier_id in op.carrier_ids]
        bulk_update(conn, simulator_inbox, "carrier_id", ("reported_at",), rows)
        return [None] * len(ops)


class SimulatorStore:
    def __init__(self, db: Database, writer: GroupCommitWriter) -> None:
        self.db = db
        self.writer = writer

    async def record(self, received: Sequence[Received]) -> None:
        await self.writer.submit(_Record(received))

    async def mark_reported(self, carrier_ids: Sequence[str], at: datetime) -> None:
        await self.writer.submit(_MarkReported(carrier_ids, at))

    async def pending(self, connector_id: str) -> list[Received]:
        """Parts whose report is still owed (after a restart)."""
        return await to_thread.run_sync(self._pending, connector_id)

    def _pending(self, connector_id: str) -> list[Received]:
        query = select(*(simulator_inbox.c[name] for name in COLUMNS if name != "reported_at")).where(
            simulator_inbox.c.connector_id == connector_id,
            simulator_inbox.c.reported_at.is_(None),
            simulator_inbox.c.report_at.is_not(None),
        )
        with self.db.read() as conn:
            return [Received(**row) for row in conn.execute(query).mappings()]


def inbox(
    conn: Connection, *, account_id: str | None = None, recipient: str | None = None, limit: int = 100
) -> list[Received]:
    """What reached the simulated phones, newest first: every copy, as a phone would show it."""
    query = select(*(simulator_inbox.c[name] for name in COLUMNS if name != "reported_at"))
    if account_id is not None:
        query = query.where(simulator_inbox.c.account_id == account_id)
    if recipient is not None:
        query = query.where(simulator_inbox.c.recipient == recipient)
    query = query.order_by(simulator_inbox.c.id.desc()).limit(limit)
    return [Received(**row) for row in conn.execute(query).mappings()]
