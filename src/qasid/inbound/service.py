"""Recording what phones send: whole messages at once, parts once all their siblings are in.

A concatenated message arrives as parts sharing a reference (per connector, sender and recipient).
Each part is stored as it comes (a part sent twice is stored once); when the last one is in, the
parts become one message in sequence order, in the same transaction. Parts whose siblings never
come stay in ``inbound_parts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from sqlalchemy import Connection

from qasid.channels.base import Inbound
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.domain import ids
from qasid.errors import QasidError
from qasid.inbound.repository import Group, InboundRepository, InboundRow


@dataclass(slots=True)
class RecordInbound(WriteOp[None]):
    messages: Sequence[Inbound]

    kind = "inbound"

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.messages)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        received = [message for op in ops for message in op.messages]
        repo = InboundRepository(conn)
        rows = [_row(m, m.text, 1) for m in received if not _is_part(m)]
        parts = [m for m in received if _is_part(m)]
        if parts:
            repo.insert_parts(
                [(m.connector_id, m.sender, m.recipient, m.reference or 0, m.total, m.sequence, m.text,
                  m.received_at) for m in parts]
            )  # fmt: skip
            groups = {(m.connector_id, m.sender, m.recipient, m.reference or 0): m for m in parts}
            complete: list[Group] = []
            for group, stored in repo.parts_of(list(groups)).items():
                if len(stored) >= max(total for _, total, _, _ in stored):
                    complete.append(group)
                    text = "".join(body for _, _, body, _ in stored)
                    rows.append(_row(groups[group], text, len(stored)))
            repo.delete_groups(complete)
        repo.insert_messages(rows)
        return [None] * len(ops)


def _is_part(message: Inbound) -> bool:
    return message.reference is not None and message.total > 1


def _row(last: Inbound, text: str, parts: int) -> InboundRow:
    """The message that ``last`` (the only part, or the last to arrive) completes."""
    at = last.received_at
    new_id = ids.new_id("inb", int(at.timestamp() * 1000))
    return InboundRow(new_id, last.connector_id, last.sender, last.recipient, text, parts, at)


class WriterInboundSink:
    """Where connectors hand inbound messages: recorded through the group commit."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer

    async def receive(self, messages: Sequence[Inbound]) -> None:
        if messages:
            await self.writer.submit(RecordInbound(messages))
