"""All SQL about contacts, lists, their members and imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, delete, func, insert, select, update

from qasid.db.bulk import bulk_insert, bulk_insert_with, one_of, placeholder
from qasid.models import contact_imports, contact_lists, contacts, import_chunks, import_errors, list_members

CONTACT_COLUMNS = ("id", "account_id", "number", "name", "fields", "created_at", "updated_at")
MEMBER_COLUMNS = ("list_id", "contact_id", "added_at")
ERROR_COLUMNS = ("import_id", "line", "reason", "detail")
# A number already there keeps its contact: a new name replaces the old, new fields join the old.
_JOINED = {
    "sqlite": "json_patch(contacts.fields, excluded.fields)",
    "postgresql": "(contacts.fields::jsonb || excluded.fields::jsonb)::text",
}
_MERGE = {
    dialect: "ON CONFLICT (account_id, number) DO UPDATE SET name = COALESCE(excluded.name, contacts.name), "
    "fields = CASE WHEN excluded.fields IS NULL THEN contacts.fields WHEN contacts.fields IS NULL "
    f"THEN excluded.fields ELSE {joined} END, updated_at = excluded.updated_at RETURNING id, number"
    for dialect, joined in _JOINED.items()
}
_NOTHING = "ON CONFLICT DO NOTHING"


@dataclass(frozen=True, slots=True)
class ContactFilter:
    number: str | None = None
    list_id: str | None = None
    id_before: str | None = None  # exclusive upper bound (ids sort by creation time)


class ContactRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # Lists

    def insert_list(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(contact_lists).values(**row))

    def get_list(self, account_id: str, list_id: str) -> RowMapping | None:
        query = select(contact_lists).where(
            contact_lists.c.id == list_id, contact_lists.c.account_id == account_id
        )
        return self.conn.execute(query).mappings().first()

    def list_named(self, account_id: str, name: str) -> RowMapping | None:
        query = select(contact_lists).where(
            contact_lists.c.account_id == account_id, contact_lists.c.name == name
        )
        return self.conn.execute(query).mappings().first()

    def lists(self, account_id: str) -> list[RowMapping]:
        """The account's lists with how many contacts each has."""
        members = (
            select(func.count())
            .where(list_members.c.list_id == contact_lists.c.id)
            .scalar_subquery()
            .label("size")
        )
        query = select(contact_lists, members).where(contact_lists.c.account_id == account_id)
        return list(self.conn.execute(query.order_by(contact_lists.c.id)).mappings())

    def size(self, list_id: str) -> int:
        query = select(func.count()).select_from(list_members).where(list_members.c.list_id == list_id)
        return int(self.conn.execute(query).scalar_one())

    def change_list(self, list_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(contact_lists).where(contact_lists.c.id == list_id).values(**values, updated_at=now)
        )

    def delete_list(self, list_id: str) -> None:
        self.conn.execute(delete(list_members).where(list_members.c.list_id == list_id))
        self.conn.execute(delete(contact_lists).where(contact_lists.c.id == list_id))

    def subscribing(self, account_ids: Sequence[str]) -> list[RowMapping]:
        """The lists of these accounts that have a subscribe word."""
        if not account_ids:
            return []
        query = select(contact_lists.c.id, contact_lists.c.account_id, contact_lists.c.subscribe_word).where(
            contact_lists.c.account_id.in_(sorted(set(account_ids))),
            contact_lists.c.subscribe_word.is_not(None),
        )
        return list(self.conn.execute(query).mappings())

    # Contacts

    def merge(self, rows: Sequence[tuple[Any, ...]]) -> dict[str, str]:
        """Insert contacts or merge them into those with the same number (CONTACT_COLUMNS; one row
        per number); returns each number's contact id."""
        found = bulk_insert_with(self.conn, contacts, rows, CONTACT_COLUMNS, _MERGE[self.conn.dialect.name])
        return {row[1]: row[0] for row in found}

    def existing(self, account_id: str, numbers: Sequence[str]) -> set[str]:
        """Which of these numbers the account has contacts for."""
        if not numbers:
            return set()
        condition, params = one_of(self.conn, contacts.c.number, numbers)
        account = placeholder(self.conn.dialect)
        sql = f"SELECT number FROM contacts WHERE account_id = {account} AND {condition}"  # noqa: S608 - fixed text
        return set(self.conn.exec_driver_sql(sql, (account_id, *params)).scalars())

    def get(self, account_id: str, contact_id: str) -> RowMapping | None:
        query = select(contacts).where(contacts.c.id == contact_id, contacts.c.account_id == account_id)
        return self.conn.execute(query).mappings().first()

    def by_numbers(self, account_id: str, numbers: Sequence[str]) -> dict[str, str]:
        """Contact ids of these numbers, where the account has them."""
        if not numbers:
            return {}
        query = select(contacts.c.number, contacts.c.id).where(
            contacts.c.account_id == account_id, contacts.c.number.in_(sorted(set(numbers)))
        )
        return {row[0]: row[1] for row in self.conn.execute(query)}

    def change(self, contact_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(contacts).where(contacts.c.id == contact_id).values(**values, updated_at=now)
        )

    def delete(self, contact_id: str) -> None:
        self.conn.execute(delete(list_members).where(list_members.c.contact_id == contact_id))
        self.conn.execute(delete(contacts).where(contacts.c.id == contact_id))

    def page(self, account_id: str, where: ContactFilter, limit: int) -> list[RowMapping]:
        """Newest first."""
        query = select(contacts).where(contacts.c.account_id == account_id)
        if where.number is not None:
            query = query.where(contacts.c.number == where.number)
        if where.list_id is not None:
            members = select(list_members.c.contact_id).where(list_members.c.list_id == where.list_id)
            query = query.where(contacts.c.id.in_(members))
        if where.id_before is not None:
            query = query.where(contacts.c.id < where.id_before)
        return list(self.conn.execute(query.order_by(contacts.c.id.desc()).limit(limit)).mappings())

    def lists_of(self, contact_id: str) -> list[str]:
        query = select(list_members.c.list_id).where(list_members.c.contact_id == contact_id)
        return list(self.conn.execute(query.order_by(list_members.c.list_id)).scalars())

    # Members

    def join(self, rows: Sequence[tuple[str, str, datetime]]) -> None:
        """(list_id, contact_id, added_at); a contact already in the list stays as it was."""
        bulk_insert_with(self.conn, list_members, rows, MEMBER_COLUMNS, _NOTHING)

    def leave(self, list_id: str, contact_id: str) -> bool:
        statement = delete(list_members).where(
            list_members.c.list_id == list_id, list_members.c.contact_id == contact_id
        )
        return bool(self.conn.execute(statement).rowcount)

    def leave_all(self, account_id: str, number: str) -> int:
        """The number leaves every list of the account (it opted out)."""
        contact = select(contacts.c.id).where(
            contacts.c.account_id == account_id, contacts.c.number == number
        )
        statement = delete(list_members).where(list_members.c.contact_id.in_(contact.scalar_subquery()))
        return int(self.conn.execute(statement).rowcount)


class ImportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(contact_imports).values(**row))

    def add_chunk(self, import_id: str, seq: int, data: bytes) -> None:
        self.conn.execute(insert(import_chunks).values(import_id=import_id, seq=seq, data=data))

    def chunk(self, import_id: str, seq: int) -> bytes | None:
        """Piece ``seq`` of the file (from 0), or None past its end."""
        query = select(import_chunks.c.data).where(
            import_chunks.c.import_id == import_id, import_chunks.c.seq == seq
        )
        data = self.conn.execute(query).scalar()
        return None if data is None else bytes(data)

    def get(self, account_id: str | None, import_id: str) -> RowMapping | None:
        query = select(contact_imports).where(contact_imports.c.id == import_id)
        if account_id is not None:
            query = query.where(contact_imports.c.account_id == account_id)
        return self.conn.execute(query).mappings().first()

    def set(self, import_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(contact_imports).where(contact_imports.c.id == import_id).values(**values, updated_at=now)
        )

    def any_queued(self) -> bool:
        """Whether an import waits for a worker (a read: the importers poll, and mostly find none)."""
        return self.conn.execute(_queued()).first() is not None

    def claim(self, worker_id: str, now: datetime) -> RowMapping | None:
        """The oldest queued import, now this worker's (an import a dead worker held is queued again
        by the heartbeat)."""
        due = _queued()
        if self.conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(contact_imports)
            .where(contact_imports.c.id.in_(due.scalar_subquery()))
            .values(status="running", claimed_by=worker_id, claimed_at=now, updated_at=now)
            .returning(*contact_imports.c)
        )
        return self.conn.execute(statement).mappings().first()

    def release_claims_of(self, worker_ids: Sequence[str]) -> int:
        """Imports these (dead or stopping) workers were reading go back to the queue; the next one
        resumes after the rows already written."""
        if not worker_ids:
            return 0
        statement = (
            update(contact_imports)
            .where(contact_imports.c.claimed_by.in_(worker_ids), contact_imports.c.status == "running")
            .values(status="queued", claimed_by=None, claimed_at=None)
        )
        return int(self.conn.execute(statement).rowcount)

    def drop_chunks(self, import_id: str) -> None:
        self.conn.execute(delete(import_chunks).where(import_chunks.c.import_id == import_id))

    def add_errors(self, rows: Sequence[tuple[str, int, str, str | None]]) -> None:
        bulk_insert(self.conn, import_errors, rows, ERROR_COLUMNS)

    def errors(self, import_id: str, after_line: int, limit: int) -> list[RowMapping]:
        query = select(import_errors.c.line, import_errors.c.reason, import_errors.c.detail).where(
            import_errors.c.import_id == import_id, import_errors.c.line > after_line
        )
        return list(self.conn.execute(query.order_by(import_errors.c.line).limit(limit)).mappings())


def _queued() -> Select[tuple[str]]:
    """The id of the oldest queued import that no worker holds."""
    due = select(contact_imports.c.id).where(
        contact_imports.c.status == "queued", contact_imports.c.claimed_by.is_(None)
    )
    return due.order_by(contact_imports.c.id).limit(1)
