"""All SQL about sender IDs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, insert, select, update

from qasid.models import senders
from qasid.senders.records import Sender, SenderKind, SenderStatus


def _sender(row: RowMapping) -> Sender:
    return Sender(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        kind=SenderKind(row["kind"]),
        status=SenderStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SenderRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, sender: Sender) -> None:
        self.conn.execute(insert(senders).values({name: getattr(sender, name) for name in Sender.__slots__}))

    def get(self, account_id: str, name: str) -> Sender | None:
        query = select(senders).where(senders.c.account_id == account_id, senders.c.name == name)
        row = self.conn.execute(query).mappings().first()
        return _sender(row) if row else None

    def list(self, account_id: str) -> list[Sender]:
        query = select(senders).where(senders.c.account_id == account_id).order_by(senders.c.name)
        return [_sender(row) for row in self.conn.execute(query).mappings()]

    def set_status(self, sender_id: str, status: SenderStatus, now: datetime) -> None:
        self.conn.execute(
            update(senders).where(senders.c.id == sender_id).values(status=status, updated_at=now)
        )
