"""All SQL about long numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, select, update

from qasid.models import numbers


class NumberRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, number: str) -> RowMapping | None:
        return self.conn.execute(select(numbers).where(numbers.c.number == number)).mappings().first()

    def insert(self, number: str, note: str | None, now: datetime) -> None:
        self.conn.execute(
            insert(numbers).values(
                number=number, account_id=None, note=note, created_at=now, assigned_at=None
            )
        )

    def assign(self, number: str, account_id: str | None, now: datetime | None) -> None:
        self.conn.execute(
            update(numbers).where(numbers.c.number == number).values(account_id=account_id, assigned_at=now)
        )

    def listed(self, account_id: str | None = None, *, free: bool = False) -> list[RowMapping]:
        """One account's numbers, the free ones, or all."""
        query = select(numbers)
        if account_id is not None:
            query = query.where(numbers.c.account_id == account_id)
        elif free:
            query = query.where(numbers.c.account_id.is_(None))
        return list(self.conn.execute(query.order_by(numbers.c.number)).mappings())

    def owners(self, found: Sequence[str]) -> dict[str, str]:
        """The account each of these numbers is assigned to."""
        if not found:
            return {}
        query = select(numbers.c.number, numbers.c.account_id).where(
            numbers.c.number.in_(sorted(set(found))), numbers.c.account_id.is_not(None)
        )
        return {row[0]: row[1] for row in self.conn.execute(query)}
