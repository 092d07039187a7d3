"""All SQL about the stop-list and the block-list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from qasid.db.bulk import Query, one_of
from qasid.models import blocked_numbers
from qasid.optout.records import ListKind


class ListRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def entries_for(self, numbers: Sequence[str]) -> list[tuple[str, str, str]]:
        """(scope, number, kind) of every entry about these numbers, whoever's; one statement."""
        return self.entries_query(numbers).run(self.conn)

    def entries_query(self, numbers: Sequence[str]) -> Query[list[tuple[str, str, str]]]:
        """``entries_for`` as a query, to send with other reads (``qasid.db.bulk.fetch``)."""
        if not numbers:
            return Query.known([])
        condition, params = one_of(self.conn, blocked_numbers.c.number, sorted(set(numbers)))
        sql = f"SELECT scope, number, kind FROM blocked_numbers WHERE {condition}"  # noqa: S608 - fixed text
        return Query(sql, params, lambda rows: [(row[0], row[1], row[2]) for row in rows])

    def get(self, scope: str, number: str, kind: ListKind) -> RowMapping | None:
        query = select(blocked_numbers).where(
            blocked_numbers.c.scope == scope,
            blocked_numbers.c.number == number,
            blocked_numbers.c.kind == kind,
        )
        return self.conn.execute(query).mappings().first()

    def add(
        self, scope: str, number: str, kind: ListKind, *, source: str, note: str | None, now: datetime
    ) -> bool:
        """False when the number was on that list already (its entry is kept as it was)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(blocked_numbers)
            .values(scope=scope, number=number, kind=kind.value, source=source, note=note, created_at=now)
            .on_conflict_do_nothing()
            .returning(blocked_numbers.c.number)
        )
        return self.conn.execute(statement).first() is not None

    def remove(self, scope: str, number: str, kind: ListKind) -> bool:
        """False when the number was not on that list."""
        statement = delete(blocked_numbers).where(
            blocked_numbers.c.scope == scope,
            blocked_numbers.c.number == number,
            blocked_numbers.c.kind == kind,
        )
        return bool(self.conn.execute(statement).rowcount)

    def page(self, scope: str, kind: ListKind, after: str | None, limit: int) -> list[RowMapping]:
        """In number order, from after ``after``."""
        query = select(blocked_numbers).where(
            blocked_numbers.c.scope == scope, blocked_numbers.c.kind == kind
        )
        if after is not None:
            query = query.where(blocked_numbers.c.number > after)
        return list(self.conn.execute(query.order_by(blocked_numbers.c.number).limit(limit)).mappings())
