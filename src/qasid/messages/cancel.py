"""Canceling a scheduled message: it never leaves, and its price goes back to the account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from sqlalchemy import Connection

from qasid.accounts.repository import AccountRepository
from qasid.billing.records import EntryKind
from qasid.billing.repository import LedgerRepository
from qasid.db.writer import WriteOp
from qasid.domain.states import CANCELABLE, MessageStatus
from qasid.errors import NotCancelable, NotFound, QasidError
from qasid.messages.repository import MessageRepository


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
    repo.insert_events(
        [{"message_id": op.message_id, "status": MessageStatus.CANCELED, "detail": None, "at": op.now}]
    )
    if message["price"]:
        LedgerRepository(conn).insert_many(
            [
                {
                    "account_id": op.account_id,
                    "kind": EntryKind.REFUND.value,
                    "amount": message["price"],
                    "batch_id": message["batch_id"],
                    "message_id": op.message_id,
                    "note": "canceled before sending",
                    "created_at": op.now,
                }
            ]
        )
        AccountRepository(conn).add_to_balances({op.account_id: message["price"]}, op.now)
    return op.message_id
