"""All SQL about ledger entries and prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from qasid.billing.records import LedgerEntry, Price
from qasid.db.bulk import bulk_insert
from qasid.models import ledger_entries, prices

ENTRY_COLUMNS = ("account_id", "kind", "amount", "batch_id", "message_id", "note", "created_at")


class LedgerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Entries as dicts of ``ENTRY_COLUMNS``; the ids come from the database."""
        bulk_insert(
            self.conn, ledger_entries, [[row[name] for name in ENTRY_COLUMNS] for row in rows], ENTRY_COLUMNS
        )

    def list(self, account_id: str, limit: int = 50) -> list[LedgerEntry]:
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.account_id == account_id)
            .order_by(ledger_entries.c.id.desc())
            .limit(limit)
        )
        return [LedgerEntry(**row) for row in self.conn.execute(query).mappings()]


class PriceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def upsert(self, price: Price, now: datetime) -> None:
        key = (
            (prices.c.scope == price.scope)
            & (prices.c.country == price.country)
            & (prices.c.operator == price.operator)
            & (prices.c.channel == price.channel)
            & (prices.c.currency == price.currency)
        )
        changed = self.conn.execute(update(prices).where(key).values(price=price.price, updated_at=now))
        if changed.rowcount == 0:
            values = {name: getattr(price, name) for name in Price.__slots__}
            self.conn.execute(insert(prices).values(**values, updated_at=now))

    def remove(self, price: Price) -> int:
        query = delete(prices).where(
            prices.c.scope == price.scope,
            prices.c.country == price.country,
            prices.c.operator == price.operator,
            prices.c.channel == price.channel,
            prices.c.currency == price.currency,
        )
        return int(self.conn.execute(query).rowcount)

    def for_scopes(self, scopes: Sequence[str], currency: str | None = None) -> list[Price]:
        query = select(prices).where(prices.c.scope.in_(scopes))
        if currency is not None:
            query = query.where(prices.c.currency == currency)
        query = query.order_by(prices.c.scope, prices.c.country, prices.c.operator, prices.c.channel)
        return [
            Price(**{name: row[name] for name in Price.__slots__})
            for row in self.conn.execute(query).mappings()
        ]
