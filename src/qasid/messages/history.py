"""A message's moves: written into its history and told to whoever listens, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from qasid.domain.states import MessageStatus
from qasid.messages.repository import MessageRepository
from qasid.webhooks.events import message_statuses


def record_moves(
    conn: Connection, moves: Sequence[tuple[str, MessageStatus, str | None]], now: datetime
) -> None:
    """(message_id, new status, detail) of messages that just moved: a ``message_events`` row each,
    and a ``message.status`` event for the account's endpoints and the request's callback."""
    if not moves:
        return
    MessageRepository(conn).insert_events([(m, status.value, detail, now) for m, status, detail in moves])
    message_statuses(conn, [(m, status) for m, status, _ in moves], now)
