"""All SQL about messages, their batches, status history and idempotency records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from qasid.db.bulk import bulk_insert, bulk_update, one_of, rows_query
from qasid.domain.states import MessageStatus, advance
from qasid.models import batches, idempotency_keys, message_events, messages, verifications


class BatchRow(NamedTuple):
    """A ``batches`` row, in the table's column order (a test keeps the two in step)."""

    id: str
    account_id: str
    channel: str
    sender: str
    body: str
    encoding: str
    segments: int
    currency: str
    client_ref: str | None
    schedule_at: datetime | None
    expires_at: datetime
    recipients: int
    total_cost: int
    request_id: str | None
    created_at: datetime
    verification_id: str | None = None  # the code is filled in at dispatch (qasid.otp)
    callback: str | None = None  # the request's own status callback (qasid.webhooks.records.Callback)
    campaign_id: str | None = None  # set when a campaign made it


class MessageRow(NamedTuple):
    """A ``messages`` row, in the table's column order (a test keeps the two in step)."""

    id: str
    account_id: str
    batch_id: str
    recipient: str
    country: str
    operator: str | None
    price: int
    status: str
    updated_at: datetime
    error_code: str | None = None


EVENT_COLUMNS = ("message_id", "status", "detail", "at")

_DISPATCH_VIEW = select(
    messages.c.id,
    messages.c.account_id,
    messages.c.batch_id,
    messages.c.recipient,
    messages.c.country,
    messages.c.operator,
    messages.c.price,
    messages.c.status,
    batches.c.channel,
    batches.c.sender,
    batches.c.body,
    batches.c.encoding,
    batches.c.segments,
    batches.c.expires_at,
    batches.c.request_id,
    batches.c.created_at,
    batches.c.verification_id,
    verifications.c.code_seal,  # a verification's code, sealed (qasid.otp.codes)
    verifications.c.status.label("code_status"),
    verifications.c.locale.label("code_locale"),
    verifications.c.brand.label("code_brand"),
    verifications.c.expires_at.label("code_expires_at"),
).select_from(
    messages.join(batches, batches.c.id == messages.c.batch_id).outerjoin(
        verifications, verifications.c.id == batches.c.verification_id
    )
)

_SETTLEMENT = ("id", "account_id", "batch_id", "price", "status")

# A message with what it shares with its batch, as the API shows it.
_MESSAGE_VIEW = select(
    messages,
    batches.c.channel,
    batches.c.sender,
    batches.c.body,
    batches.c.encoding,
    batches.c.segments,
    batches.c.currency,
    batches.c.client_ref,
    batches.c.schedule_at,
    batches.c.expires_at,
    batches.c.created_at,
).join(batches, batches.c.id == messages.c.batch_id)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    status: str | None = None
    recipient: str | None = None
    batch_id: str | None = None
    id_from: str | None = None  # inclusive lower bound (ids sort by creation time)
    id_before: str | None = None  # exclusive upper bound


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: bytes
    created_at: datetime


class MessageRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_batches(self, rows: Sequence[BatchRow]) -> None:
        bulk_insert(self.conn, batches, rows)

    def insert_messages(self, rows: Sequence[MessageRow]) -> None:
        bulk_insert(self.conn, messages, rows)

    def insert_events(self, rows: Sequence[tuple[str, str, str | None, datetime]]) -> None:
        """Status changes: (message_id, status, detail, at)."""
        bulk_insert(self.conn, message_events, rows, EVENT_COLUMNS)

    def advance(self, changes: Sequence[tuple[str, MessageStatus, str | None]], now: datetime) -> list[str]:
        """Move messages forward: (message_id, new status, error code). A message already at or past
        the new status keeps its own (states are monotonic). Returns the ids that moved."""
        moved: list[str] = []
        by_status: dict[MessageStatus, list[tuple[str, str, datetime, str | None]]] = {}
        for message_id, status, error_code in changes:
            by_status.setdefault(status, []).append((message_id, status.value, now, error_code))
        for status, rows in by_status.items():
            earlier = ", ".join(f"'{s.value}'" for s in MessageStatus if advance(s, status) is not None)
            where = f"messages.status IN ({earlier})" if earlier else "1 = 0"
            moved += bulk_update(
                self.conn,
                messages,
                "id",
                ("status", "updated_at", "error_code"),
                rows,
                where=where,
                returning=True,
            )
        return moved

    def for_dispatch(self, message_ids: Sequence[str]) -> list[dict[str, Any]]:
        """What dispatching needs of each message and its batch."""
        if not message_ids:
            return []
        condition, params = one_of(self.conn, messages.c.id, message_ids)
        return rows_query(self.conn, _DISPATCH_VIEW, condition, params).run(self.conn)

    def settlement_rows(self, message_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Who paid what for these messages, and where each stands."""
        if not message_ids:
            return []
        condition, params = one_of(self.conn, messages.c.id, message_ids)
        return rows_query(self.conn, messages, condition, params, names=_SETTLEMENT).run(self.conn)

    def get(self, account_id: str, message_id: str) -> RowMapping | None:
        """The message with its batch's fields, if it is the account's."""
        query = _MESSAGE_VIEW.where(messages.c.id == message_id, messages.c.account_id == account_id)
        return self.conn.execute(query).mappings().first()

    def events(self, message_id: str) -> list[RowMapping]:
        query = select(message_events).where(message_events.c.message_id == message_id)
        return list(self.conn.execute(query.order_by(message_events.c.id)).mappings())

    def page(self, account_id: str, where: MessageFilter, limit: int, offset: int = 0) -> list[RowMapping]:
        """Newest first; ``limit`` rows at most, after skipping ``offset`` (the dialects' numbered
        pages; the native API pages by cursor)."""
        query = _MESSAGE_VIEW.where(messages.c.account_id == account_id)
        if where.status is not None:
            query = query.where(messages.c.status == where.status)
        if where.recipient is not None:
            query = query.where(messages.c.recipient == where.recipient)
        if where.batch_id is not None:
            query = query.where(messages.c.batch_id == where.batch_id)
        if where.id_from is not None:
            query = query.where(messages.c.id >= where.id_from)
        if where.id_before is not None:
            query = query.where(messages.c.id < where.id_before)
        query = query.order_by(messages.c.id.desc()).limit(limit)
        return list(self.conn.execute(query.offset(offset) if offset else query).mappings())

    def set_status_if(self, message_id: str, expected: str, status: str, now: datetime) -> bool:
        """Move one message from ``expected`` to ``status``; False when it was not in ``expected``."""
        query = (
            update(messages)
            .where(messages.c.id == message_id, messages.c.status == expected)
            .values(status=status, updated_at=now)
        )
        return bool(self.conn.execute(query).rowcount == 1)


class IdempotencyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, account_id: str, key: str) -> StoredResponse | None:
        query = select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response,
            idempotency_keys.c.created_at,
        ).where(idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key)
        row = self.conn.execute(query).first()
        return StoredResponse(*row) if row else None

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(idempotency_keys), list(rows))

    def delete(self, account_id: str, key: str) -> None:
        self.conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key
            )
        )

    def purge_before(self, moment: datetime) -> int:
        return int(
            self.conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < moment)).rowcount
        )
