"""All SQL about verifications, their sends and their checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, RowMapping, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from qasid.db.bulk import (
    Query,
    bind_time,
    bulk_insert,
    bulk_update,
    one_of,
    read_time,
    rows_query,
    tally,
    untallied,
)
from qasid.domain import ids
from qasid.models import (
    batches,
    messages,
    verification_checks,
    verification_sends,
    verification_tallies,
    verifications,
)

PENDING = "pending"
COLUMNS = tuple(column.name for column in verifications.columns)
SEND_COLUMNS = ("verification_id", "channel", "message_id", "created_at")
CHECK_COLUMNS = ("verification_id", "result", "created_at")
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class History:
    """``VerificationRepository.admission_history``'s answer."""

    pending: dict[str, int]  # account -> its verifications with the status pending (``verification_tallies``)
    # id, account, number, status, created_at, expires_at
    numbers: list[tuple[str, str, str, str, datetime, datetime]]
    blocks: list[tuple[str, str, datetime]]  # account, prefix, created


# Per account its pending verifications (kind 0, its row of verification_tallies), the
# verifications to the numbers (1) and to the blocks (2) since a time, each part found by its index:
# (account_id, recipient, created_at), (account_id, prefix, created_at). SQLite is driven from the
# JSON sets (CROSS JOIN keeps that order); PostgreSQL takes arrays (``= ANY``), which it plans as
# index conditions, where its planner guesses a hundred rows for each JSON set and, for two sets,
# ten thousand pairs of them, and scans the table instead.
_HISTORY_PARTS = (
    "SELECT 0 AS kind, t.account_id, NULL AS k, NULL AS id, NULL AS status, NULL AS created_at, "
    "NULL AS expires_at, t.pending AS n FROM {from_t} WHERE {t}",
    "SELECT 1, v.account_id, v.recipient, v.id, v.status, v.created_at, v.expires_at, 0 "
    "FROM {from_r} WHERE {a} AND {r} AND v.created_at >= {p}",
    "SELECT 2, v.account_id, v.prefix, NULL, NULL, v.created_at, NULL, 0 "
    "FROM {from_b} WHERE {a} AND {b} AND v.created_at >= {p}",
)
_HISTORY = {
    "sqlite": " UNION ALL ".join(_HISTORY_PARTS).format(
        from_t="json_each(?) AS a CROSS JOIN verification_tallies AS t", t="t.account_id = a.value",
        from_r="json_each(?) AS a CROSS JOIN json_each(?) AS r CROSS JOIN verifications AS v",
        from_b="json_each(?) AS a CROSS JOIN json_each(?) AS b CROSS JOIN verifications AS v",
        a="v.account_id = a.value", r="v.recipient = r.value", b="v.prefix = b.value", p="?",
    ) + " ORDER BY 1, 6",
    "postgresql": " UNION ALL ".join(_HISTORY_PARTS).format(
        from_t="verification_tallies AS t", t="t.account_id = ANY(%s)",
        from_r="verifications AS v", from_b="verifications AS v",
        a="v.account_id = ANY(%s)", r="v.recipient = ANY(%s)", b="v.prefix = ANY(%s)", p="%s",
    ) + " ORDER BY 1, 6",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class VerificationFilter:
    recipient: str | None = None
    status: str | None = None  # "expired" also finds pending ones whose time ran out
    id_from: str | None = None
    id_before: str | None = None


class VerificationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk_insert(self.conn, verifications, [[row[name] for name in COLUMNS] for row in rows], COLUMNS)

    def add_sends(self, rows: Sequence[tuple[str, str, str | None, datetime]]) -> None:
        """(verification_id, channel, message_id, at)."""
        bulk_insert(self.conn, verification_sends, rows, SEND_COLUMNS)

    def add_checks(self, rows: Sequence[tuple[str, str, datetime]]) -> None:
        """(verification_id, result, at)."""
        bulk_insert(self.conn, verification_checks, rows, CHECK_COLUMNS)

    def get_many(self, verification_ids: Sequence[str], *, lock: bool = False) -> list[dict[str, Any]]:
        return self.get_many_query(verification_ids, lock=lock).run(self.conn)

    def get_many_query(
        self, verification_ids: Sequence[str], *, lock: bool = False
    ) -> Query[list[dict[str, Any]]]:
        """``get_many`` as a query, to send with other reads (``qasid.db.bulk.fetch``)."""
        condition, params = one_of(self.conn, verifications.c.id, sorted(set(verification_ids)))
        lock = lock and self.conn.dialect.name != "sqlite"  # SQLite's write lock already excludes everyone
        return rows_query(self.conn, verifications, condition, params, tail="FOR UPDATE" if lock else "")

    def set_many(self, rows: Sequence[tuple[str, str, int, datetime]]) -> None:
        """(id, status, attempts, updated_at)."""
        bulk_update(self.conn, verifications, "id", ("status", "attempts", "updated_at"), rows)

    def admission_history(
        self,
        account_ids: Sequence[str],
        recipients: Sequence[str],
        prefixes: Sequence[str],
        *,
        numbers_since: datetime,
        prefixes_since: datetime,
    ) -> Query[History]:
        """What the limits of new verifications are decided from, by one statement: per account,
        how many verifications have the status pending (as written by the transactions before:
        ``count_pending`` adds this one's); the verifications of these accounts to these numbers
        since ``numbers_since``, and to these blocks since ``prefixes_since``, oldest first. A
        ``Query``, sent with the create's other reads (``CreateVerification.plan``): in a busy
        process each round trip of the writer's transaction waits to get the interpreter back."""
        dialect = self.conn.dialect
        at = bind_time(dialect)
        sets: tuple[Any, ...] = tuple(sorted(set(values)) for values in (account_ids, recipients, prefixes))
        if dialect.name == "sqlite":
            sets = tuple(_json.encode(values).decode() for values in sets)
        accounts, numbers, blocks = sets
        params = (
            accounts,
            accounts, numbers, at(numbers_since),
            accounts, blocks, at(prefixes_since),
        )  # fmt: skip
        read = read_time(dialect)

        def parse(rows: Sequence[Any]) -> History:
            history = History({}, [], [])
            for kind, account_id, key, vid, status, created_at, expires_at, count in rows:
                if kind == 0:
                    history.pending[account_id] = int(count)
                elif kind == 1:
                    history.numbers.append((vid, account_id, key, status, read(created_at), read(expires_at)))
                else:
                    history.blocks.append((account_id, key, read(created_at)))
            return history

        return Query(_HISTORY[dialect.name], params, parse)

    def running(self, account_id: str, now: datetime) -> tuple[int, datetime | None]:
        """The account's pending verifications whose time has not run out, counted, and when the
        first of them ends: read from the index (account_id, status, expires_at) only when the
        tally says the account is at its limit, since the tally also counts those whose time ran out
        and that the expiry sweep has not written down yet."""
        query = select(func.count(), func.min(verifications.c.expires_at)).where(
            verifications.c.account_id == account_id,
            verifications.c.status == PENDING,
            verifications.c.expires_at > now,
        )
        count, first_end = self.conn.execute(query).one()
        return int(count), first_end

    def get(self, account_id: str, verification_id: str, *, lock: bool = False) -> RowMapping | None:
        query = select(verifications).where(
            verifications.c.id == verification_id, verifications.c.account_id == account_id
        )
        if lock and self.conn.dialect.name != "sqlite":  # SQLite's write lock already excludes everyone
            query = query.with_for_update()
        return self.conn.execute(query).mappings().first()

    def set(self, verification_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(verifications)
            .where(verifications.c.id == verification_id)
            .values(updated_at=now, **values)
        )

    def conversion(self, since: datetime) -> tuple[int, int]:
        """Verifications created since ``since``, all accounts, and how many of them were approved."""
        approved = func.sum(case((verifications.c.status == "approved", 1), else_=0))
        # Ids begin with their creation time: the primary key finds the hour without a scan.
        query = select(func.count(), approved).where(verifications.c.id >= ids.lower_bound("ver", since))
        created, done = self.conn.execute(query).one()
        return int(created), int(done or 0)

    def sends(self, verification_id: str) -> list[RowMapping]:
        query = (
            select(verification_sends, messages.c.status.label("message_status"))
            .select_from(
                verification_sends.outerjoin(messages, messages.c.id == verification_sends.c.message_id)
            )
            .where(verification_sends.c.verification_id == verification_id)
            .order_by(verification_sends.c.id)
        )
        return list(self.conn.execute(query).mappings())

    def checks(self, verification_id: str) -> list[RowMapping]:
        query = (
            select(verification_checks)
            .where(verification_checks.c.verification_id == verification_id)
            .order_by(verification_checks.c.id)
        )
        return list(self.conn.execute(query).mappings())

    def latest_body(self, verification_id: str) -> str | None:
        """The text (with ``{code}``) its last message was sent with."""
        query = (
            select(batches.c.body)
            .where(batches.c.verification_id == verification_id)
            .order_by(batches.c.id.desc())
            .limit(1)
        )
        found: str | None = self.conn.execute(query).scalar()
        return found

    def page(self, account_id: str, where: VerificationFilter, now: datetime, limit: int) -> list[RowMapping]:
        """Newest first; ``limit`` rows at most."""
        query = select(verifications).where(verifications.c.account_id == account_id)
        if where.recipient is not None:
            query = query.where(verifications.c.recipient == where.recipient)
        if where.status == "expired":
            query = query.where(
                (verifications.c.status == "expired")
                | ((verifications.c.status == PENDING) & (verifications.c.expires_at <= now))
            )
        elif where.status == PENDING:
            query = query.where(verifications.c.status == PENDING, verifications.c.expires_at > now)
        elif where.status is not None:
            query = query.where(verifications.c.status == where.status)
        if where.id_from is not None:
            query = query.where(verifications.c.id >= where.id_from)
        if where.id_before is not None:
            query = query.where(verifications.c.id < where.id_before)
        return list(self.conn.execute(query.order_by(verifications.c.id.desc()).limit(limit)).mappings())


def count_pending(
    conn: Connection, *, began: Iterable[Mapping[Any, Any]] = (), ended: Iterable[Mapping[Any, Any]] = ()
) -> None:
    """Tell the accounts' tallies which of their verifications began pending (``began``) and which
    were pending and are not any more (``ended``): written at the end of the writer's transaction,
    all of it in one statement (``qasid.db.bulk.tally``)."""
    changes = Counter(row["account_id"] for row in began)
    changes.subtract(row["account_id"] for row in ended)
    tally(conn, verification_tallies.c.pending, changes)


def pending_of(conn: Connection, account_id: str, written: int) -> int:
    """The account's pending verifications: ``written`` (its tally as read in this transaction)
    with what this transaction has changed since."""
    return written + untallied(conn, verification_tallies.c.pending, account_id)


def recount_pending(conn: Connection, account_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Set these accounts' tallies to their pending verifications counted from the table (an
    operator's repair after editing ``verifications`` by hand); returns (was, is) by account.

    Safe beside running writers: every account's row is made first (a create that is making it
    commits before), then locked, and only then counted, so a transaction that changes a status
    either committed before the count (and is in it) or adds its change after this one commits.
    A thousand accounts at a time (a statement's parameters are bounded), in the order in which
    the writers lock tallies (``qasid.db.bulk.tally``: by key), so neither waits for the other in
    a circle."""
    wanted = sorted(set(account_ids))
    counted: dict[str, tuple[int, int]] = {}
    for start in range(0, len(wanted), RECOUNT_CHUNK):
        counted |= _recount(conn, wanted[start : start + RECOUNT_CHUNK])
    return counted


RECOUNT_CHUNK = 1000


def _recount(conn: Connection, wanted: list[str]) -> dict[str, tuple[int, int]]:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(verification_tallies)
        .values([{"account_id": account, "pending": 0} for account in wanted])
        .on_conflict_do_nothing()
    )
    held = select(verification_tallies.c.account_id, verification_tallies.c.pending).where(
        verification_tallies.c.account_id.in_(wanted)
    )
    locked = held.order_by(verification_tallies.c.account_id).with_for_update()
    was = {row.account_id: row.pending for row in conn.execute(locked)}
    counted = (
        select(verifications.c.account_id, func.count())
        .where(verifications.c.account_id.in_(wanted), verifications.c.status == PENDING)
        .group_by(verifications.c.account_id)
    )
    found = dict.fromkeys(wanted, 0) | {account: int(n) for account, n in conn.execute(counted)}
    bulk_update(
        conn,
        verification_tallies,
        "account_id",
        ("pending",),
        [(account, n) for account, n in found.items() if n != was.get(account)],
    )
    return {account: (int(was.get(account, 0)), found[account]) for account in wanted}


def supersede(conn: Connection, ids: Sequence[str], now: datetime) -> list[RowMapping]:
    """Cancel pending verifications a newer one for the same number replaces; returns them."""
    if not ids:
        return []
    statement = (
        update(verifications)
        .where(verifications.c.id.in_(ids), verifications.c.status == PENDING)
        .values(status="canceled", updated_at=now)
        .returning(*verifications.c)
    )
    return list(conn.execute(statement).mappings())


def expire_due(conn: Connection, now: datetime) -> list[RowMapping]:
    """Pending verifications whose time ran out become ``expired``; returns them."""
    statement = (
        update(verifications)
        .where(verifications.c.status == PENDING, verifications.c.expires_at <= now)
        .values(status="expired", updated_at=now)
        .returning(*verifications.c)
    )
    return list(conn.execute(statement).mappings())
