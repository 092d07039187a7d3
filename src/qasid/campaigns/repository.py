"""All SQL about campaigns, their recipients and their messages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Result, Row, RowMapping, Select, func, insert, select, update

from qasid.campaigns.records import MOVING
from qasid.db.bulk import one_of, placeholder
from qasid.models import batches, campaigns, contacts, list_members, messages


class CampaignRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(campaigns).values(**row))

    def get(self, account_id: str | None, campaign_id: str, *, lock: bool = False) -> RowMapping | None:
        query = select(campaigns).where(campaigns.c.id == campaign_id)
        if account_id is not None:
            query = query.where(campaigns.c.account_id == account_id)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return self.conn.execute(query).mappings().first()

    def page(self, account_id: str, before: str | None, limit: int) -> list[RowMapping]:
        query = select(campaigns).where(campaigns.c.account_id == account_id)
        if before is not None:
            query = query.where(campaigns.c.id < before)
        return list(self.conn.execute(query.order_by(campaigns.c.id.desc()).limit(limit)).mappings())

    def set(self, campaign_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(campaigns).where(campaigns.c.id == campaign_id).values(**values, updated_at=now)
        )

    def any_due(self, now: datetime) -> bool:
        """Whether a campaign waits for a runner (a read: the runners poll, and mostly find none)."""
        return self.conn.execute(_due(now)).first() is not None

    def claim(self, worker_id: str, now: datetime) -> RowMapping | None:
        """The campaign most overdue for its next chunk, now this worker's."""
        due = _due(now)
        if self.conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(campaigns)
            .where(campaigns.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker_id, claimed_at=now)
            .returning(*campaigns.c)
        )
        return self.conn.execute(statement).mappings().first()

    def release_claims_of(self, worker_ids: Sequence[str]) -> int:
        if not worker_ids:
            return 0
        statement = (
            update(campaigns)
            .where(campaigns.c.claimed_by.in_(worker_ids))
            .values(claimed_by=None, claimed_at=None)
        )
        return int(self.conn.execute(statement).rowcount)

    def members(
        self, account_id: str, list_ids: Sequence[str], after: str, limit: int, *, personal: bool
    ) -> list[Row[Any]]:
        """The next contacts in any of these lists, by id after ``after``: each once, however many
        of the lists it is in, as rows of (id, number), and name and fields when ``personal`` (to
        fill a template). Each list is read along its own key from the cursor (a range, whatever the
        planner knows of the tables), the lists' next ids merged here."""
        mark = placeholder(self.conn.dialect)
        chosen: set[str] = set()
        for list_id in list_ids:
            ids = (
                f"SELECT contact_id FROM list_members WHERE list_id = {mark} AND contact_id > {mark} "  # noqa: S608
                f"ORDER BY contact_id LIMIT {mark}"
            )
            chosen.update(found for (found,) in self.conn.exec_driver_sql(ids, (list_id, after, limit)))
        wanted = sorted(chosen)[:limit]
        if not wanted:
            return []
        condition, params = one_of(self.conn, contacts.c.id, wanted)
        columns = "id, number, name, fields" if personal else "id, number"
        sql = (
            f"SELECT {columns} FROM contacts WHERE {condition} "  # noqa: S608 - fixed text
            f"AND account_id = {mark} ORDER BY id"
        )
        return list(self.conn.exec_driver_sql(sql, (*params, account_id)))

    def contacts_of(self, account_id: str, numbers: Sequence[str]) -> dict[str, Row[Any]]:
        """The account's contacts among these numbers, by number: rows of (id, number, name, fields)."""
        if not numbers:
            return {}
        query = select(contacts.c.id, contacts.c.number, contacts.c.name, contacts.c.fields).where(
            contacts.c.account_id == account_id, contacts.c.number.in_(numbers)
        )
        found: Result[Any] = self.conn.execute(query)
        return {row.number: row for row in found}

    def audience(self, list_ids: Sequence[str]) -> int:
        """How many contacts are in any of these lists."""
        if not list_ids:
            return 0
        query = select(func.count(func.distinct(list_members.c.contact_id))).where(
            list_members.c.list_id.in_(list_ids)
        )
        return int(self.conn.execute(query).scalar_one())

    def by_status(self, campaign_id: str) -> dict[str, tuple[int, int]]:
        """The campaign's messages by status: (how many, what they cost)."""
        query = (
            select(messages.c.status, func.count(), func.coalesce(func.sum(messages.c.price), 0))
            .join(batches, batches.c.id == messages.c.batch_id)
            .where(batches.c.campaign_id == campaign_id)
            .group_by(messages.c.status)
        )
        return {status: (int(count), int(cost)) for status, count, cost in self.conn.execute(query)}

    def held(self, campaign_id: str) -> list[RowMapping]:
        """The campaign's messages still waiting for their time (held for quiet hours)."""
        query = (
            select(messages.c.id, messages.c.account_id, messages.c.batch_id, messages.c.price)
            .join(batches, batches.c.id == messages.c.batch_id)
            .where(batches.c.campaign_id == campaign_id, messages.c.status == "scheduled")
        )
        return list(self.conn.execute(query).mappings())

    def export(self, campaign_id: str, *, after: str = "", chunk: int = 5_000) -> Iterator[list[RowMapping]]:
        """Every message of the campaign after ``after``, by id, a chunk at a time."""
        while True:
            query = (
                select(messages.c.id, messages.c.recipient, messages.c.status, messages.c.error_code,
                       messages.c.price, messages.c.updated_at)
                .join(batches, batches.c.id == messages.c.batch_id)
                .where(batches.c.campaign_id == campaign_id, messages.c.id > after)
                .order_by(messages.c.id)
                .limit(chunk)
            )  # fmt: skip
            rows = list(self.conn.execute(query).mappings())
            if not rows:
                return
            yield rows
            after = rows[-1]["id"]


def _due(now: datetime) -> Select[tuple[str]]:
    """The id of the campaign most overdue for its next chunk and not claimed."""
    due = select(campaigns.c.id).where(
        campaigns.c.status.in_([s.value for s in MOVING]),
        campaigns.c.next_run_at <= now,
        campaigns.c.claimed_by.is_(None),
    )
    return due.order_by(campaigns.c.next_run_at).limit(1)
