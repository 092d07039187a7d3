"""All SQL about templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from qasid.models import templates


class TemplateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(templates).values(**row))

    def get(self, account_id: str, template_id: str) -> RowMapping | None:
        query = select(templates).where(templates.c.id == template_id, templates.c.account_id == account_id)
        return self.conn.execute(query).mappings().first()

    def named(self, account_id: str, name: str) -> RowMapping | None:
        query = select(templates).where(templates.c.account_id == account_id, templates.c.name == name)
        return self.conn.execute(query).mappings().first()

    def of_account(self, account_id: str) -> list[RowMapping]:
        query = select(templates).where(templates.c.account_id == account_id).order_by(templates.c.name)
        return list(self.conn.execute(query).mappings())

    def change(self, template_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(templates).where(templates.c.id == template_id).values(**values, updated_at=now)
        )

    def delete(self, template_id: str) -> None:
        self.conn.execute(delete(templates).where(templates.c.id == template_id))
