"""All SQL about inbound messages and the parts waiting for their siblings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, delete, select

from qasid.db.bulk import bulk_insert
from qasid.models import inbound_messages, inbound_parts

MESSAGE_COLUMNS = ("id", "connector_id", "sender", "recipient", "body", "parts", "received_at")
PART_COLUMNS = (
    "connector_id",
    "sender",
    "recipient",
    "reference",
    "total",
    "sequence",
    "body",
    "received_at",
)


class InboundRow(NamedTuple):
    """An ``inbound_messages`` row, in the order of ``MESSAGE_COLUMNS``."""

    id: str
    connector_id: str
    sender: str
    recipient: str
    body: str
    parts: int
    received_at: datetime


Group = tuple[str, str, str, int]  # (connector_id, sender, recipient, reference)
PartRow = tuple[str, str, str, int, int, int, str, datetime]


class InboundRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_messages(self, rows: Sequence[InboundRow]) -> None:
        bulk_insert(self.conn, inbound_messages, rows, MESSAGE_COLUMNS)

    def insert_parts(self, rows: Sequence[PartRow]) -> None:
        """Parts not stored yet (a part the carrier sends again is stored once)."""
        if not rows:
            return
        groups = self.parts_of([(r[0], r[1], r[2], r[3]) for r in rows])
        stored = {(*group, part[0]) for group, parts in groups.items() for part in parts}
        fresh = {(r[0], r[1], r[2], r[3], r[5]): r for r in rows}  # the same part twice in one batch: once
        bulk_insert(
            self.conn, inbound_parts, [r for key, r in fresh.items() if key not in stored], PART_COLUMNS
        )

    def parts_of(self, groups: Sequence[Group]) -> dict[Group, list[tuple[int, int, str, datetime]]]:
        """The stored parts of each group: (sequence, total, body, received_at), in sequence order."""
        wanted = set(groups)
        if not wanted:
            return {}
        c = inbound_parts.c
        query = select(c.connector_id, c.sender, c.recipient, c.reference, c.sequence, c.total, c.body,
                       c.received_at).where(
            c.connector_id.in_({g[0] for g in wanted}), c.reference.in_({g[3] for g in wanted})
        )  # fmt: skip
        found: dict[Group, list[tuple[int, int, str, datetime]]] = {}
        for row in self.conn.execute(query.order_by(c.sequence)):
            group = (row[0], row[1], row[2], row[3])
            if group in wanted:
                found.setdefault(group, []).append((row[4], row[5], row[6], row[7]))
        return found

    def delete_groups(self, groups: Sequence[Group]) -> None:
        for connector_id, sender, recipient, reference in groups:
            self.conn.execute(
                delete(inbound_parts).where(
                    inbound_parts.c.connector_id == connector_id, inbound_parts.c.sender == sender,
                    inbound_parts.c.recipient == recipient, inbound_parts.c.reference == reference,
                )
            )  # fmt: skip
