"""All SQL about inbound messages and the parts waiting for their siblings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, RowMapping, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from qasid.db.bulk import bulk_insert
from qasid.models import inbound_keywords, inbound_messages, inbound_parts, senders
from qasid.senders.records import SenderKind, SenderStatus

MESSAGE_COLUMNS = ("id", "connector_id", "sender", "recipient", "body", "parts", "received_at", "account_id")
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
    account_id: str | None = None  # the account that owns the number it was sent to


Group = tuple[str, str, str, int]  # (connector_id, sender, recipient, reference)
PartRow = tuple[str, str, str, int, int, int, str, datetime]


@dataclass(frozen=True, slots=True)
class InboundFilter:
    sender: str | None = None
    recipient: str | None = None
    id_from: str | None = None  # inclusive lower bound (ids sort by time)
    id_before: str | None = None  # exclusive upper bound


class InboundRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def owners(self, numbers: Sequence[str]) -> dict[str, list[str]]:
        """The accounts whose approved numeric sender is each of these E.164 numbers."""
        if not numbers:
            return {}
        query = select(senders.c.name, senders.c.account_id).where(
            senders.c.name.in_(sorted(set(numbers))),
            senders.c.kind == SenderKind.NUMERIC.value,
            senders.c.status == SenderStatus.APPROVED.value,
        )
        found: dict[str, list[str]] = {}
        for name, account_id in self.conn.execute(query):
            found.setdefault(name, []).append(account_id)
        return found

    def keywords(self, account_ids: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        """Each account's own (stop words, start words), where it set any."""
        if not account_ids:
            return {}
        query = select(inbound_keywords).where(inbound_keywords.c.account_id.in_(sorted(set(account_ids))))
        return {r.account_id: (r.stop_words, r.start_words) for r in self.conn.execute(query)}

    def get(self, account_id: str, inbound_id: str) -> RowMapping | None:
        query = select(inbound_messages).where(
            inbound_messages.c.id == inbound_id, inbound_messages.c.account_id == account_id
        )
        return self.conn.execute(query).mappings().first()

    def page(self, account_id: str, where: InboundFilter, limit: int) -> list[RowMapping]:
        """Newest first."""
        c = inbound_messages.c
        query = select(inbound_messages).where(c.account_id == account_id)
        for column, value in ((c.sender, where.sender), (c.recipient, where.recipient)):
            if value is not None:
                query = query.where(column == value)
        if where.id_from is not None:
            query = query.where(c.id >= where.id_from)
        if where.id_before is not None:
            query = query.where(c.id < where.id_before)
        return list(self.conn.execute(query.order_by(c.id.desc()).limit(limit)).mappings())

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

    def set_keywords(self, account_id: str, stop: str | None, start: str | None, now: datetime) -> None:
        """An account's own words (comma separated; None: the built-in ones)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        values = {"stop_words": stop, "start_words": start, "updated_at": now}
        statement = dialect.insert(inbound_keywords).values(account_id=account_id, **values)
        self.conn.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_=values))
