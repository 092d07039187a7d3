"""All SQL about webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, RowMapping, func, insert, select, text, update

from qasid.db.bulk import bulk_insert, bulk_update, execute, one_of
from qasid.models import webhook_attempts, webhook_deliveries, webhook_endpoints
from qasid.webhooks.records import DeliveryStatus, Statuses, Subscriber

DELIVERY_COLUMNS = (
    "id",
    "event_id",
    "account_id",
    "endpoint_id",
    "url",
    "secret",
    "format",
    "event_type",
    "subject_id",
    "sequence",
    "payload",
    "status",
    "attempts",
    "run_at",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = ("delivery_id", "at", "url", "status_code", "latency_ms", "error", "response")
FINISH_COLUMNS = ("status", "attempts", "run_at", "last_error", "updated_at", "claimed_by", "claimed_at")
_json = msgspec.json.Encoder()
WEBHOOKS_CHANNEL = "qasid_webhooks"  # PostgreSQL LISTEN/NOTIFY channel: new deliveries were committed

_LIVE = "enabled AND deleted_at IS NULL"  # an endpoint that receives events
_PENDING = text("webhook_deliveries.status = 'pending'")  # literal, so the partial index applies


# Driven from the ids given (a JSON parameter): a few hundred index lookups whatever the planner's
# statistics say of a table that a campaign has just grown by a million rows (an IN over the table
# was planned as a scan there, ~100 ms a call).
_IDS = {
    "postgresql": "jsonb_array_elements_text(%s::jsonb) AS e(id) JOIN messages ON messages.id = e.id",
    "sqlite": "json_each(?) AS e CROSS JOIN messages ON messages.id = e.value",
}
_MESSAGE_SUBJECTS = {
    dialect: "SELECT messages.id, messages.account_id, messages.batch_id, messages.recipient, "  # noqa: S608 - our names
    "messages.error_code, batches.channel, batches.client_ref, batches.callback, batches.verification_id "
    f"FROM {ids} JOIN batches ON batches.id = messages.batch_id "
    "WHERE batches.callback IS NOT NULL OR messages.account_id IN "
    f"(SELECT account_id FROM webhook_endpoints WHERE {_LIVE} AND events LIKE {pattern})"
    for dialect, ids, pattern in (
        # psycopg reads "%" in statement text as a placeholder unless doubled; SQLite takes it as it is.
        ("postgresql", _IDS["postgresql"], "'%%message.status%%'"),
        ("sqlite", _IDS["sqlite"], "'%message.status%'"),
    )
}


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    endpoint_id: str | None = None
    subject_id: str | None = None
    status: str | None = None
    id_before: str | None = None  # exclusive upper bound (ids sort by creation time)


class EndpointRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(webhook_endpoints).values(**row))

    def get(self, account_id: str, endpoint_id: str) -> RowMapping | None:
        query = select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id,
            webhook_endpoints.c.account_id == account_id,
            webhook_endpoints.c.deleted_at.is_(None),
        )
        return self.conn.execute(query).mappings().first()

    def find(self, endpoint_id: str) -> RowMapping | None:
        """Any account's endpoint (the operator's CLI)."""
        query = select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.deleted_at.is_(None)
        )
        return self.conn.execute(query).mappings().first()

    def of_account(self, account_id: str) -> list[RowMapping]:
        query = select(webhook_endpoints).where(
            webhook_endpoints.c.account_id == account_id, webhook_endpoints.c.deleted_at.is_(None)
        )
        return list(self.conn.execute(query.order_by(webhook_endpoints.c.id)).mappings())

    def change(self, endpoint_id: str, now: datetime, **values: Any) -> None:
        self.conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(**values, updated_at=now)
        )

    def subscribers(self, account_ids: Sequence[str]) -> dict[str, list[Subscriber]]:
        """The live endpoints of these accounts."""
        if not account_ids:
            return {}
        condition, params = one_of(self.conn, webhook_endpoints.c.account_id, account_ids)
        sql = (
            "SELECT id, account_id, events, statuses, format FROM webhook_endpoints "  # noqa: S608 - fixed text
            f"WHERE {condition} AND {_LIVE}"
        )
        rows = execute(self.conn, sql, params)
        found: dict[str, list[Subscriber]] = {}
        for endpoint_id, account_id, events, statuses, form in rows:
            wanted = frozenset(events.split(","))
            subscriber = Subscriber(endpoint_id, account_id, wanted, Statuses(statuses), form)
            found.setdefault(account_id, []).append(subscriber)
        return found

    def targets(self, endpoint_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(url, sealed secret) of each endpoint."""
        if not endpoint_ids:
            return {}
        query = select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.secret).where(
            webhook_endpoints.c.id.in_(endpoint_ids)
        )
        return {row.id: (row.url, row.secret) for row in self.conn.execute(query)}

    def health(self, endpoint_ids: Sequence[str]) -> list[RowMapping]:
        """Where each endpoint stands: enabled, deleted, and its run of failures."""
        e = webhook_endpoints.c
        query = select(e.id, e.account_id, e.url, e.enabled, e.deleted_at, e.failures, e.failing_since)
        return list(self.conn.execute(query.where(e.id.in_(endpoint_ids))).mappings())

    def set_health(self, rows: Sequence[tuple[str, int, datetime | None, datetime]]) -> None:
        """(id, failures, failing_since, updated_at)."""
        bulk_update(self.conn, webhook_endpoints, "id", ("failures", "failing_since", "updated_at"), rows)


class DeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def message_subjects(self, message_ids: Sequence[str]) -> Sequence[Any]:
        """What a ``message.status`` event says of each message that someone listens to (its batch
        has a callback, or its account a live endpoint for the event): tuples of (id, account_id,
        batch_id, recipient, error_code, channel, client_ref, callback, verification_id)."""
        ids = (_json.encode(list(message_ids)).decode(),)
        return execute(self.conn, _MESSAGE_SUBJECTS[self.conn.dialect.name], ids)

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """New deliveries, in the order of ``DELIVERY_COLUMNS``."""
        bulk_insert(self.conn, webhook_deliveries, rows, DELIVERY_COLUMNS)

    def claim(self, worker_id: str, now: datetime, limit: int, busy: Sequence[str]) -> list[RowMapping]:
        """Take up to ``limit`` due deliveries for ``worker_id`` (skipping held ones: those of a
        disabled endpoint, and of the endpoints in ``busy``); one statement."""
        d = webhook_deliveries.c
        live = select(webhook_endpoints.c.id).where(text(_LIVE))
        due = select(d.id).where(d.claimed_by.is_(None), _PENDING, d.run_at <= now)
        due = due.where(d.endpoint_id.is_(None) | d.endpoint_id.in_(live.scalar_subquery()))
        if busy:
            due = due.where(d.endpoint_id.is_(None) | d.endpoint_id.not_in(busy))
        due = due.order_by(d.run_at).limit(limit)
        if self.conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(webhook_deliveries)
            .where(d.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker_id, claimed_at=now)
            .returning(
                d.id, d.event_id, d.endpoint_id, d.url, d.secret, d.format, d.payload, d.attempts,
                d.created_at, d.subject_id, d.sequence,
            )
        )  # fmt: skip
        return list(self.conn.execute(statement).mappings())

    def finish(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Outcomes of tries: (id, *FINISH_COLUMNS); the claim is given up."""
        bulk_update(self.conn, webhook_deliveries, "id", FINISH_COLUMNS, rows)

    def insert_attempts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        bulk_insert(self.conn, webhook_attempts, rows, ATTEMPT_COLUMNS)

    def release_claims_of(self, worker_ids: Sequence[str]) -> int:
        """Deliveries held by these (dead or stopping) workers go back to the queue as they were."""
        if not worker_ids:
            return 0
        statement = (
            update(webhook_deliveries)
            .where(webhook_deliveries.c.claimed_by.in_(worker_ids))
            .values(claimed_by=None, claimed_at=None)
        )
        return int(self.conn.execute(statement).rowcount)

    def resume(self, endpoint_id: str, now: datetime) -> None:
        """An endpoint is enabled again: what waited for it is due now."""
        self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id, _PENDING)
            .values(run_at=now)
        )

    def abandon(self, endpoint_id: str, reason: str, now: datetime) -> None:
        """An endpoint is deleted: what waited for it fails."""
        self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id, _PENDING)
            .values(status=DeliveryStatus.FAILED.value, last_error=reason, updated_at=now)
        )

    def replay(self, delivery_id: str, now: datetime) -> None:
        self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, run_at=now, updated_at=now)
        )

    def get(self, account_id: str | None, delivery_id: str) -> RowMapping | None:
        query = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        if account_id is not None:
            query = query.where(webhook_deliveries.c.account_id == account_id)
        return self.conn.execute(query).mappings().first()

    def page(self, account_id: str, where: DeliveryFilter, limit: int) -> list[RowMapping]:
        """Newest first."""
        d = webhook_deliveries.c
        query = select(webhook_deliveries).where(d.account_id == account_id)
        for column, value in (
            (d.endpoint_id, where.endpoint_id),
            (d.subject_id, where.subject_id),
            (d.status, where.status),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.id_before is not None:
            query = query.where(d.id < where.id_before)
        return list(self.conn.execute(query.order_by(d.id.desc()).limit(limit)).mappings())

    def attempts(self, delivery_id: str) -> list[RowMapping]:
        query = select(webhook_attempts).where(webhook_attempts.c.delivery_id == delivery_id)
        return list(self.conn.execute(query.order_by(webhook_attempts.c.id)).mappings())

    def depth(self, now: datetime) -> tuple[int, datetime | None]:
        """How many deliveries are due and unclaimed, and the oldest due time among them."""
        d = webhook_deliveries.c
        query = select(func.count(), func.min(d.run_at)).where(
            d.claimed_by.is_(None), _PENDING, d.run_at <= now
        )
        count, oldest = self.conn.execute(query).one()
        return int(count), oldest
