"""All SQL about message parts (what each carrier took) and delivery reports (what it said)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from qasid.db.bulk import PG_GIVEN_ROWS, bulk_insert, bulk_update, execute, given, one_of
from qasid.domain.states import MessageStatus
from qasid.models import delivery_reports, message_parts

PART_COLUMNS = ("message_id", "part", "connector_id", "carrier_id", "status", "error_code", "updated_at")
REPORT_COLUMNS = ("connector_id", "carrier_id", "status", "error_code", "raw", "received_at", "message_id")

Pair = tuple[str, str]  # (connector_id, carrier_id)


def lock_parts(conn: Connection, pairs: list[Pair]) -> None:
    """The writer's ``locker`` for the classes that record submits and apply reports: their parts'
    locks (``DeliveryRepository.lock_pairs``), for the whole transaction, before any op applies."""
    DeliveryRepository(conn).lock_pairs(pairs)


class DeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_parts(self, rows: Sequence[tuple[str, int, str, str, str, str | None, datetime]]) -> None:
        bulk_insert(self.conn, message_parts, rows, PART_COLUMNS)

    def lock_pairs(self, pairs: Sequence[Pair]) -> None:
        """Hold these parts' (connector, carrier id) until the transaction ends, on PostgreSQL: the
        record of a submit and a report for it can be written at once by two writers (a carrier's
        HTTP callback arrives at the API while a worker records the submit), and under READ
        COMMITTED each would miss the other's uncommitted row, the report then held unmatched for
        good. With the lock, the second waits for the first and then sees what it wrote. (SQLite's
        one write lock already orders them.) Taken in one order (their hashes'), and by the writer's
        transactions all at once before anything else (``lock_parts``): no deadlock between two of
        these, nor between these and the rows the transactions lock afterwards."""
        if not pairs or self.conn.dialect.name != "postgresql":
            return
        execute(self.conn, _LOCK_PAIRS, given(self.conn.dialect, sorted(set(pairs))))

    def parts_by_carrier(self, pairs: Sequence[Pair]) -> dict[Pair, tuple[str, int, MessageStatus]]:
        """The parts the carriers' ids name: (message_id, part, status) by (connector, carrier id)."""
        if not pairs:
            return {}
        sql = _JOIN_PAIRS["postgresql" if self.conn.dialect.name == "postgresql" else "sqlite"]
        rows = execute(
            self.conn,
            sql.format(
                table="message_parts", columns="t.message_id, t.part, t.status, t.connector_id, t.carrier_id"
            ),
            given(self.conn.dialect, list(pairs)),
        )
        return {(row[3], row[4]): (row[0], row[1], MessageStatus(row[2])) for row in rows}

    def awaiting(self, connector_id: str, limit: int) -> list[str]:
        """Carrier ids of this connector's parts sent and not yet reported final, oldest first (for
        connectors that must ask after them). Read along the (connector_id, carrier_id) key."""
        query = (
            select(message_parts.c.carrier_id)
            .where(message_parts.c.connector_id == connector_id, message_parts.c.status == "sent")
            .order_by(message_parts.c.updated_at)
            .limit(limit)
        )
        return list(self.conn.execute(query).scalars())

    def update_parts(self, rows: Sequence[tuple[str, int, str, str | None, datetime]]) -> None:
        """(message_id, part, status, error_code, updated_at)."""
        bulk_update(
            self.conn, message_parts, ("message_id", "part"), ("status", "error_code", "updated_at"), rows
        )

    def part_states(self, message_ids: Sequence[str]) -> dict[str, list[MessageStatus]]:
        """The parts' states of these messages. The ids go as one JSON parameter (``one_of``): with
        an expanded IN list of a few hundred, PostgreSQL planned a scan of the whole table while its
        statistics still said it was small, 80-250 ms a call under a campaign's load."""
        if not message_ids:
            return {}
        condition, params = one_of(self.conn, message_parts.c.message_id, message_ids)
        sql = f"SELECT message_parts.message_id, message_parts.status FROM message_parts WHERE {condition}"  # noqa: S608 - fixed text
        found: dict[str, list[MessageStatus]] = {}
        for message_id, status in execute(self.conn, sql, params):
            found.setdefault(message_id, []).append(MessageStatus(status))
        return found

    def insert_reports(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(connector_id, carrier_id, status, error_code, raw, received_at, message_id or None)."""
        bulk_insert(self.conn, delivery_reports, rows, REPORT_COLUMNS)

    def unmatched(self, pairs: Sequence[Pair]) -> list[tuple[int, str, str, str, str | None, str, datetime]]:
        """Reports that arrived before their part was known: (id, connector, carrier id, status,
        error code, raw, received_at), oldest first."""
        if not pairs:
            return []
        sql = _UNMATCHED["postgresql" if self.conn.dialect.name == "postgresql" else "sqlite"]
        columns = "t.id, t.connector_id, t.carrier_id, t.status, t.error_code, t.raw, t.received_at"
        statement = (
            sql.format(table="delivery_reports", columns=columns) + " AND t.message_id IS NULL ORDER BY t.id"
        )
        rows = execute(self.conn, statement, given(self.conn.dialect, list(pairs)))
        processor = delivery_reports.c.received_at.type.result_processor(self.conn.dialect, None)
        return [(*row[:6], processor(row[6]) if processor else row[6]) for row in rows]

    def mark_matched(self, rows: Sequence[tuple[int, str]]) -> None:
        """(report id, message_id)."""
        bulk_update(self.conn, delivery_reports, "id", ("message_id",), rows)


# SQLite 3.40 would drive the unmatched lookup from ix_delivery_reports_message_id (message_id IS
# NULL) and rescan json_each(?) for every unmatched report: 0.05 ms each, a second with 20,000 held.
# CROSS JOIN fixes the order (SQLite never reorders it): each pair looks up the partial index
# ix_delivery_reports_unmatched instead (0.18 ms for 90 pairs, however many are held).
_UNMATCHED = {
    "sqlite": "SELECT {columns} FROM json_each(?) AS e CROSS JOIN {table} AS t "
    "ON t.connector_id = e.value->>0 AND t.carrier_id = e.value->>1 WHERE 1 = 1",
    "postgresql": f"SELECT {{columns}} FROM {{table}} AS t JOIN {PG_GIVEN_ROWS} "  # noqa: S608 - our names
    "ON t.connector_id = e->>0 AND t.carrier_id = e->>1 WHERE 1 = 1",
}
_JOIN_PAIRS = {
    "sqlite": "SELECT {columns} FROM {table} AS t JOIN json_each(?) AS e "
    "ON t.connector_id = e.value->>0 AND t.carrier_id = e.value->>1 WHERE 1 = 1",
    "postgresql": f"SELECT {{columns}} FROM {{table}} AS t JOIN {PG_GIVEN_ROWS} "  # noqa: S608 - our names
    "ON t.connector_id = e->>0 AND t.carrier_id = e->>1 WHERE 1 = 1",
}
_LOCK_PAIRS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "  # noqa: S608 - our names
    f"hashtextextended((e->>0) || ' ' || (e->>1), 0) AS k FROM {PG_GIVEN_ROWS} ORDER BY k) AS keys"
)
