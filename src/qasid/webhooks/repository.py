"""All SQL about webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect, RowMapping, func, insert, select, text, update

from qasid.db.bulk import (
    PG_GIVEN_TEXTS,
    Query,
    bind_time,
    bulk_insert,
    bulk_update,
    execute,
    given,
    one_of,
    result_processors,
    rows_as_dicts,
)
from qasid.models import webhook_attempts, webhook_deliveries, webhook_endpoints, workers
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
    "claimed_by",
    "claimed_at",
)
ATTEMPT_COLUMNS = ("delivery_id", "at", "url", "status_code", "latency_ms", "error", "response")
FINISH_COLUMNS = ("status", "attempts", "run_at", "last_error", "updated_at", "claimed_by", "claimed_at")
WEBHOOKS_CHANNEL = "qasid_webhooks"  # PostgreSQL LISTEN/NOTIFY channel: new deliveries were committed


def _live(endpoints: str) -> str:
    """That an endpoint (of the table or alias ``endpoints``) receives events."""
    return f"{endpoints}.enabled AND {endpoints}.deleted_at IS NULL"


_LIVE = _live("webhook_endpoints")
_PENDING = text("webhook_deliveries.status = 'pending'")  # literal, so the partial index applies


# Driven from the ids given (a JSON parameter): a few hundred index lookups whatever the planner's
# statistics say of a table that a campaign has just grown by a million rows (an IN over the table
# was planned as a scan there, ~100 ms a call).
_IDS = {
    "postgresql": f"{PG_GIVEN_TEXTS} JOIN messages ON messages.id = given.value",
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


# The claim walks the due index (partial: unclaimed and pending) in run_at order and stops at the
# limit. The endpoints it holds back (disabled or deleted, and the busy ones) are a NOT IN list
# that neither database can turn into an index lookup or a join: "endpoint_id IS NULL OR
# endpoint_id IN (live ones)" had SQLite read every pending delivery through the (endpoint_id,
# status) index and sort them, on every claim; NOT EXISTS had PostgreSQL hash-join and sort them.
_CLAIMED = (
    "id", "event_id", "endpoint_id", "url", "secret", "format", "payload", "attempts", "created_at",
    "subject_id", "sequence",
)  # fmt: skip
_BUSY = {  # the endpoints given (``given``)
    "postgresql": f"SELECT value FROM {PG_GIVEN_TEXTS}",  # noqa: S608 - our names
    "sqlite": "SELECT value FROM json_each(?)",
}
_CLAIM = {
    dialect: (
        f"UPDATE webhook_deliveries SET claimed_by = {mark}, claimed_at = {mark} "  # noqa: S608 - our names
        "WHERE webhook_deliveries.id IN (SELECT webhook_deliveries.id FROM webhook_deliveries "
        f"WHERE webhook_deliveries.claimed_by IS NULL AND {_PENDING.text} "
        f"AND webhook_deliveries.run_at <= {mark} "
        "AND coalesce(webhook_deliveries.endpoint_id, '') NOT IN "
        f"(SELECT webhook_endpoints.id FROM webhook_endpoints WHERE NOT ({_LIVE})) "
        f"AND coalesce(webhook_deliveries.endpoint_id, '') NOT IN ({_BUSY[dialect]}) "
        f"ORDER BY webhook_deliveries.run_at LIMIT {mark}{lock}) RETURNING {', '.join(_CLAIMED)}"
    )
    for dialect, mark, lock in (("postgresql", "%s", " FOR UPDATE SKIP LOCKED"), ("sqlite", "?", ""))
}


@cache
def _claimed_processors(dialect: Dialect) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    return result_processors(dialect, [webhook_deliveries.c[name].type for name in _CLAIMED])


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
        return self.subscribers_query(account_ids).run(self.conn)

    def subscribers_query(self, account_ids: Sequence[str]) -> Query[dict[str, list[Subscriber]]]:
        """``subscribers`` as a query, to send with other reads (``qasid.db.bulk.fetch``)."""
        if not account_ids:
            return Query.known({})
        condition, params = one_of(self.conn, webhook_endpoints.c.account_id, account_ids)
        sql = (
            "SELECT id, account_id, events, statuses, format, url, secret FROM webhook_endpoints "  # noqa: S608 - fixed text
            f"WHERE {condition} AND {_LIVE}"
        )
        return Query(sql, params, _subscribers)

    def targets(self, endpoint_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(url, sealed secret) of each endpoint."""
        if not endpoint_ids:
            return {}
        condition, params = one_of(self.conn, webhook_endpoints.c.id, endpoint_ids)
        sql = f"SELECT id, url, secret FROM webhook_endpoints WHERE {condition}"  # noqa: S608 - fixed text
        return {endpoint_id: (url, secret) for endpoint_id, url, secret in execute(self.conn, sql, params)}

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
        ids = given(self.conn.dialect, list(message_ids))
        return execute(self.conn, _MESSAGE_SUBJECTS[self.conn.dialect.name], ids)

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """New deliveries, in the order of ``DELIVERY_COLUMNS``."""
        bulk_insert(self.conn, webhook_deliveries, rows, DELIVERY_COLUMNS)

    def claim(self, worker_id: str, now: datetime, limit: int, busy: Sequence[str]) -> list[dict[str, Any]]:
        """Take up to ``limit`` due deliveries for ``worker_id`` (skipping held ones: those of a
        disabled endpoint, and of the endpoints in ``busy``); one statement, our own text."""
        dialect = self.conn.dialect
        stamp = bind_time(dialect)(now)
        params = (worker_id, stamp, stamp, *given(dialect, list(busy)), limit)
        found = execute(self.conn, _CLAIM[dialect.name], params)
        return rows_as_dicts(found, _CLAIMED, _claimed_processors(dialect))

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

    def release_claims_of_stopped(self) -> int:
        """Deliveries still held by workers that stopped: a transaction of another writer of the
        stopping process may have handed it some after it gave its claims back. Read from the
        claimed rows only (their index holds nothing else)."""
        statement = (
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.claimed_by.in_(
                    select(workers.c.id).where(workers.c.stopped_at.is_not(None))
                )
            )
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


def _subscribers(rows: Sequence[Any]) -> dict[str, list[Subscriber]]:
    found: dict[str, list[Subscriber]] = {}
    for endpoint_id, account_id, events, statuses, form, url, secret in rows:
        wanted = frozenset(events.split(","))
        subscriber = Subscriber(endpoint_id, account_id, wanted, Statuses(statuses), form, url, secret)
        found.setdefault(account_id, []).append(subscriber)
    return found
