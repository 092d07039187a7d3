"""Reading messages back: one with its history, or a page of them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping

from qasid.domain import ids
from qasid.domain.states import MessageStatus
from qasid.errors import InvalidRequest, NotFound
from qasid.messages.repository import MessageFilter, MessageRepository
from qasid.messages.schemas import Message, MessageDetail, MessagePage, StatusChange


def _message(row: RowMapping) -> Message:
    return Message(
        id=row["id"],
        batch_id=row["batch_id"],
        channel=row["channel"],
        to=row["recipient"],
        country=row["country"],
        operator=row["operator"],
        sender=row["sender"],
        text=row["body"],
        encoding=row["encoding"],
        segments=row["segments"],
        price=row["price"],
        currency=row["currency"],
        status=row["status"],
        error_code=row["error_code"],
        client_ref=row["client_ref"],
        schedule_at=row["schedule_at"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get_message(conn: Connection, account_id: str, message_id: str) -> MessageDetail:
    repo = MessageRepository(conn)
    row = repo.get(account_id, message_id) if ids.is_valid("msg", message_id) else None
    if row is None:
        raise NotFound(f"no message {message_id!r}")
    first = MessageStatus.SCHEDULED if row["schedule_at"] is not None else MessageStatus.ACCEPTED
    history = [StatusChange(status=first, at=row["created_at"])]
    history += [
        StatusChange(status=e["status"], at=e["at"], detail=e["detail"]) for e in repo.events(row["id"])
    ]
    fields = {name: getattr(_message(row), name) for name in Message.__struct_fields__}
    return MessageDetail(**fields, history=history)


def encode_cursor(message_id: str) -> str:
    return base64.urlsafe_b64encode(message_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        value = ""
    if not ids.is_valid("msg", value):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    return value


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """A page request. ``created_after`` is inclusive, ``created_before`` exclusive."""

    limit: int = 50
    cursor: str | None = None
    status: str | None = None
    recipient: str | None = None
    batch_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    offset: int = 0  # rows skipped first (numbered pages)


def list_messages(conn: Connection, account_id: str, query: MessageQuery) -> MessagePage:
    """Newest first, ``query.limit`` at a time."""
    upper = ids.lower_bound("msg", query.created_before) if query.created_before else None
    if query.cursor is not None:
        after_cursor = decode_cursor(query.cursor)
        upper = min(upper, after_cursor) if upper else after_cursor
    where = MessageFilter(
        status=query.status,
        recipient=query.recipient,
        batch_id=query.batch_id,
        id_from=ids.lower_bound("msg", query.created_after) if query.created_after else None,
        id_before=upper,
    )
    rows = MessageRepository(conn).page(account_id, where, query.limit + 1, query.offset)
    data = [_message(row) for row in rows[: query.limit]]
    next_cursor = encode_cursor(data[-1].id) if len(rows) > query.limit else None
    return MessagePage(data=data, next_cursor=next_cursor)
