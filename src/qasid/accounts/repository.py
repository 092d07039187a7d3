"""All SQL about accounts and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from qasid.accounts.records import Account, AccountStatus, ApiKey, PaymentType
from qasid.db.bulk import Query, bind_time, one_of, rows_query, write
from qasid.models import accounts, api_keys, ledger_entries

# Built once: the group commit runs these for every batch.
# FOR NO KEY UPDATE: what an UPDATE of the balance takes anyway. FOR UPDATE would also wait for the
# share locks that the foreign keys of every new row naming the account (batches, ledger entries)
# hold until their transaction ends: a send request's group commit waited out a campaign chunk.
_LOCK = "FOR NO KEY UPDATE"
_ADD_TO_BALANCE = {
    dialect: f"UPDATE accounts SET balance = balance + {mark}, updated_at = {mark} WHERE id = {mark}"  # noqa: S608
    for dialect, mark in (("postgresql", "%s"), ("sqlite", "?"))
}


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        status=AccountStatus(row["status"]),
        payment_type=PaymentType(row["payment_type"]),
        currency=row["currency"],
        credit_limit=row["credit_limit"],
        balance=row["balance"],
        default_region=row["default_region"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(**{name: row[name] for name in ApiKey.__slots__})


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(accounts).values(**values))

    def get(self, account_id: str) -> Account | None:
        row = self.conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
        return _account(row) if row else None

    def find(self, ref: str) -> Account | None:
        """By id, or by name when exactly one account has it."""
        if (found := self.get(ref)) is not None:
            return found
        rows = self.conn.execute(select(accounts).where(accounts.c.name == ref).limit(2)).mappings().all()
        return _account(rows[0]) if len(rows) == 1 else None

    def list(self) -> list[Account]:
        rows = self.conn.execute(select(accounts).order_by(accounts.c.id)).mappings().all()
        return [_account(row) for row in rows]

    def set_status(self, account_id: str, status: AccountStatus, now: datetime) -> None:
        self.conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(status=status, updated_at=now)
        )

    def lock_for_update(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Read accounts and hold their rows until the transaction ends (SQLite: already exclusive)."""
        return self.read_many(account_ids, lock=self.conn.dialect.name != "sqlite")

    def read_many(self, account_ids: Sequence[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
        """Every group commit that spends money runs this (through the driver: a Core statement's
        building and reading cost more than the query), in the order of the ids."""
        return self.read_many_query(account_ids, lock=lock).run(self.conn)

    def lock_query(self, account_ids: Sequence[str]) -> Query[dict[str, dict[str, Any]]]:
        """``lock_for_update`` as a query, to send with other reads (``qasid.db.bulk.fetch``)."""
        return self.read_many_query(account_ids, lock=self.conn.dialect.name != "sqlite")

    def read_many_query(
        self, account_ids: Sequence[str], *, lock: bool = False
    ) -> Query[dict[str, dict[str, Any]]]:
        condition, params = one_of(self.conn, accounts.c.id, sorted(set(account_ids)))
        tail = f"ORDER BY accounts.id {_LOCK if lock else ''}"
        query = rows_query(self.conn, accounts, condition, params, tail=tail)
        return query.then(lambda rows: {row["id"]: row for row in rows})

    def add_to_balances(self, deltas: dict[str, int], now: datetime, *, last: bool = False) -> None:
        """Move running balances; always in the transaction that writes the matching ledger rows.
        Written as the writes that return nothing are (``bulk.write``): the writer's transaction
        sends them with its next read or its commit.

        ``last``, for amounts that add (refunds, which the worker's transactions make for messages
        that end unsent): the updates go at the very end of the transaction (``bulk.write(last=True)``).
        An update locks the account's row until the commit, and every send and verification of the
        account waits for that lock (docs/performance.md); made last, it holds it for the commit
        alone. A funds check later in the same transaction reads the balance without these amounts:
        at worst it refuses what they would have paid for, never the other way round."""
        if last and any(delta < 0 for delta in deltas.values()):
            raise ValueError("a charge must be seen by the funds checks after it: it cannot go last")
        sql, when = _ADD_TO_BALANCE[self.conn.dialect.name], bind_time(self.conn.dialect)(now)
        for account_id, delta in sorted(deltas.items()):  # one order everywhere: no deadlocks
            if delta:
                write(self.conn, sql, (delta, when, account_id), last=last)

    def ledger_sum(self, account_id: str) -> int:
        query = select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
            ledger_entries.c.account_id == account_id
        )
        return int(self.conn.execute(query).scalar_one())


class ApiKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(api_keys).values(**values))

    def by_prefix(self, prefix: str) -> ApiKey | None:
        row = self.conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).mappings().first()
        return _key(row) if row else None

    def find(self, ref: str) -> ApiKey | None:
        """By id or by visible prefix."""
        query = select(api_keys).where((api_keys.c.id == ref) | (api_keys.c.prefix == ref))
        row = self.conn.execute(query).mappings().first()
        return _key(row) if row else None

    def list(self, account_id: str) -> list[ApiKey]:
        query = select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
        return [_key(row) for row in self.conn.execute(query).mappings()]

    def revoke(self, key_id: str, now: datetime) -> None:
        self.conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
