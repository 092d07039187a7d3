"""PostgreSQL's statistics for the tables that grow fastest, refreshed when they have grown.

PostgreSQL plans a query from what it last learnt of each table (``ANALYZE``). Autovacuum refreshes
that when a tenth of a table has changed, but looks only once a ``autovacuum_naptime`` (a minute by
default), and a plan the driver has prepared keeps the choice made from the old figures until they
change. A gateway that starts on empty tables, or a campaign that adds a million messages, outgrows
its statistics within seconds: the planner believes ``messages`` holds a few hundred rows, and the
dispatch's lookups by id (90 ids joined from one JSON parameter) become scans of the whole table.
With 20,000 messages sent into a new database, PostgreSQL spent ~1 ms of CPU per message, most of it
in such scans (docs/performance.md).

So each worker's upkeep asks, every few seconds, which of these tables now hold a number of rows
that differs from what the planner last learnt by more than ``max(floor, fraction x the smaller of
the two)``, and analyzes those: with the fraction at 1, a plan is made from at worst half or twice
the rows a table holds, whatever autovacuum is doing. What counts is the rows a table holds
(PostgreSQL's live-row count), not how many changed: ``jobs`` is a queue whose rows come and go,
and a message's row is updated two or three times, so counting changes analyzed them every few
seconds under load. Each ``ANALYZE`` of these tables took 100-220 ms of a core at 1,000
verifications a second, and nearly every slow moment of that bench was one (docs/performance.md).
One process at a time (an advisory lock); nothing on SQLite, which plans without row counts of
this kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, text

# The tables every message, report and webhook adds rows to.
HOT_TABLES = (
    "messages",
    "batches",
    "jobs",
    "message_parts",
    "message_events",
    "delivery_reports",
    "ledger_entries",
    "verifications",
    "webhook_deliveries",
)
FLOOR = 1_000  # rows more or fewer before a table is worth analyzing again
FRACTION = 1.0  # ... or this share of its rows, when that is more
LOCK_KEY = 0x5141_5349_4453_5441  # pg_try_advisory_xact_lock key: "QASIDSTA"

_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.relname IN :tables "
    "AND abs(s.n_live_tup - greatest(c.reltuples, 0)) "
    "> greatest(:floor, :fraction * least(s.n_live_tup, greatest(c.reltuples, 0))) "
    "ORDER BY s.relname"
).bindparams(bindparam("tables", expanding=True))


def stale_tables(
    conn: Connection, tables: Sequence[str] = HOT_TABLES, *, floor: int = FLOOR, fraction: float = FRACTION
) -> list[str]:
    """The tables whose statistics lag behind what they hold now."""
    found = conn.execute(_STALE, {"tables": list(tables), "floor": floor, "fraction": fraction})
    return [str(name) for name in found.scalars()]


def refresh(
    conn: Connection, tables: Sequence[str] = HOT_TABLES, *, floor: int = FLOOR, fraction: float = FRACTION
) -> list[str]:
    """Analyze the stale ones among ``tables`` in ``conn``'s transaction; the tables analyzed. Does
    nothing on SQLite, or while another process is at it."""
    if conn.dialect.name != "postgresql":
        return []
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar_one():
        return []
    stale = stale_tables(conn, tables, floor=floor, fraction=fraction)
    if stale:
        known = set(tables)  # names from our own list, never from the database, go into the statement
        conn.exec_driver_sql("ANALYZE " + ", ".join(name for name in stale if name in known))
    return stale
