"""All SQL about sender IDs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from qasid.models import numbers, sender_approvals, senders
from qasid.senders.records import Destination, Sender, SenderKind, SenderStatus


def _sender(row: RowMapping) -> Sender:
    return Sender(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        kind=SenderKind(row["kind"]),
        status=SenderStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        purpose=row["purpose"],
        reason=row["reason"],
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

    def of_account(self, account_id: str) -> list[Sender]:
        query = select(senders).where(senders.c.account_id == account_id).order_by(senders.c.name)
        return [_sender(row) for row in self.conn.execute(query).mappings()]

    def find(self, account_id: str, sender_id: str) -> Sender | None:
        query = select(senders).where(senders.c.account_id == account_id, senders.c.id == sender_id)
        row = self.conn.execute(query).mappings().first()
        return _sender(row) if row else None

    def set_status(
        self, sender_id: str, status: SenderStatus, now: datetime, reason: str | None = None
    ) -> None:
        self.conn.execute(
            update(senders)
            .where(senders.c.id == sender_id)
            .values(status=status, updated_at=now, reason=reason)
        )

    def destinations(self, sender_ids: list[str]) -> dict[str, list[Destination]]:
        """Where each of these senders was approved to go, if it was approved per destination."""
        if not sender_ids:
            return {}
        a = sender_approvals.c
        query = select(a.sender_id, a.country, a.operator, a.price).where(a.sender_id.in_(sender_ids))
        found: dict[str, list[Destination]] = {}
        for sender_id, country, operator, price in self.conn.execute(query.order_by(a.country, a.operator)):
            found.setdefault(sender_id, []).append(Destination(country, operator, price))
        return found

    def add_destination(self, sender_id: str, destination: Destination, now: datetime) -> None:
        a = sender_approvals.c
        self.conn.execute(
            delete(sender_approvals).where(
                a.sender_id == sender_id, a.country == destination.country, a.operator == destination.operator
            )
        )
        self.conn.execute(
            insert(sender_approvals).values(
                sender_id=sender_id, country=destination.country, operator=destination.operator,
                price=destination.price, created_at=now,
            )
        )  # fmt: skip

    def clear_destinations(self, sender_id: str) -> None:
        self.conn.execute(delete(sender_approvals).where(sender_approvals.c.sender_id == sender_id))

    def assigned_numbers(self, account_id: str) -> list[str]:
        """The long numbers assigned to the account: senders of its own, approved everywhere."""
        query = select(numbers.c.number).where(numbers.c.account_id == account_id)
        return list(self.conn.execute(query.order_by(numbers.c.number)).scalars())
