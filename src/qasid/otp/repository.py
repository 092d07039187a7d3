"""All SQL about verifications, their sends and their checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, case, func, select, update

from qasid.db.bulk import bulk_insert, bulk_update
from qasid.domain import ids
from qasid.models import batches, messages, verification_checks, verification_sends, verifications

PENDING = "pending"
COLUMNS = tuple(column.name for column in verifications.columns)
SEND_COLUMNS = ("verification_id", "channel", "message_id", "created_at")
CHECK_COLUMNS = ("verification_id", "result", "created_at")


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

    def get_many(self, verification_ids: Sequence[str], *, lock: bool = False) -> list[RowMapping]:
        query = select(verifications).where(verifications.c.id.in_(sorted(set(verification_ids))))
        if lock and self.conn.dialect.name != "sqlite":
            query = query.with_for_update()
        return list(self.conn.execute(query).mappings())

    def set_many(self, rows: Sequence[tuple[str, str, int, datetime]]) -> None:
        """(id, status, attempts, updated_at)."""
        bulk_update(self.conn, verifications, "id", ("status", "attempts", "updated_at"), rows)

    def pending_counts(
        self, account_ids: Sequence[str], now: datetime
    ) -> dict[str, tuple[int, datetime | None]]:
        """Per account: pending verifications, and when the first of them ends."""
        query = (
            select(verifications.c.account_id, func.count(), func.min(verifications.c.expires_at))
            .where(
                verifications.c.account_id.in_(account_ids),
                verifications.c.status == PENDING,
                verifications.c.expires_at > now,
            )
            .group_by(verifications.c.account_id)
        )
        return {account_id: (int(count), first) for account_id, count, first in self.conn.execute(query)}

    def recent_for_numbers(
        self, account_ids: Sequence[str], recipients: Sequence[str], since: datetime
    ) -> list[RowMapping]:
        """Verifications of these accounts to these numbers since ``since``, oldest first."""
        query = (
            select(
                verifications.c.id, verifications.c.account_id, verifications.c.recipient,
                verifications.c.status, verifications.c.created_at, verifications.c.expires_at,
            )
            .where(
                verifications.c.account_id.in_(account_ids),
                verifications.c.recipient.in_(recipients),
                verifications.c.created_at >= since,
            )
            .order_by(verifications.c.created_at)
        )  # fmt: skip
        return list(self.conn.execute(query).mappings())

    def recent_for_prefixes(
        self, account_ids: Sequence[str], prefixes: Sequence[str], since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """(account_id, prefix, created_at) of verifications to these blocks since ``since``, oldest first."""
        if not prefixes:
            return []
        query = (
            select(verifications.c.account_id, verifications.c.prefix, verifications.c.created_at)
            .where(
                verifications.c.account_id.in_(account_ids),
                verifications.c.prefix.in_(prefixes),
                verifications.c.created_at >= since,
            )
            .order_by(verifications.c.created_at)
        )
        return [(a, p, t) for a, p, t in self.conn.execute(query)]

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
