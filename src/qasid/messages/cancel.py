"""Canceling a scheduled message: its job is removed so it never leaves, and its price goes back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from sqlalchemy import Connection

from qasid.billing.service import Refund, refund_many
from qasid.db.writer import WriteOp
from qasid.domain.states import CANCELABLE, MessageStatus
from qasid.errors import NotCancelable, NotFound, QasidError
from qasid.messages.history import record_moves
from qasid.messages.repository import MessageRepository
from qasid.outbox.repository import JobRepository


@dataclass(slots=True)
class CancelMessage(WriteOp[str]):
    """Returns the message id once it is canceled and refunded."""

    account_id: str
    message_id: str
    now: datetime

    kind = "cancel"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[str | QasidError]:
        return [_cancel(conn, op) for op in ops]


def _cancel(conn: Connection, op: CancelMessage) -> str | QasidError:
    repo = MessageRepository(conn)
    message = repo.get(op.account_id, op.message_id)
    if message is None:
        return NotFound(f"no message {op.message_id!r}")
    if message["status"] not in CANCELABLE or not repo.set_status_if(
        op.message_id, MessageStatus.SCHEDULED, MessageStatus.CANCELED, op.now
    ):
        return NotCancelable(
            f"the message is {message['status']}; only scheduled messages can be canceled",
            message_status=message["status"],
        )
    JobRepository(conn).delete_for_messages([op.message_id])
    record_moves(conn, [(op.message_id, MessageStatus.CANCELED, None)], op.now)
    refund = Refund(
        op.account_id, op.message_id, message["batch_id"], message["price"], note="canceled before sending"
    )
    refund_many(conn, [refund], op.now)
    return op.message_id
