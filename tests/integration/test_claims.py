"""The queues' claims against the real databases: what they take, and that they take it from the due
index in order rather than reading every unclaimed row (finished webhook deliveries are kept, and a
send backlog or scheduled messages leave many unclaimed jobs that are not due yet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection

from qasid.db import Database
from qasid.db.bulk import given
from qasid.outbox.records import JobKind, Lane
from qasid.outbox.repository import JobRepository, _claim_params, _claim_sql
from qasid.webhooks.repository import _CLAIM, DeliveryRepository, EndpointRepository
from tests.support import Operator

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def endpoint(conn: Connection, account_id: str, endpoint_id: str, *, enabled: bool = True) -> None:
    EndpointRepository(conn).insert(
        {"id": endpoint_id, "account_id": account_id, "url": f"https://{endpoint_id}.test/hook",
         "events": "message.status", "statuses": "all", "format": "standard", "secret": "sealed",
         "enabled": enabled, "failures": 0, "created_at": NOW, "updated_at": NOW}
    )  # fmt: skip


def deliveries(
    account_id: str, endpoint_id: str | None, count: int, *, status: str = "pending", start: int = 0
) -> list[tuple[object, ...]]:
    """``count`` deliveries, due one second apart from ``start`` seconds before NOW."""
    url = None if endpoint_id else "https://callback.test/hook"
    return [
        (f"whd_{endpoint_id or 'cb'}_{status}_{start + i:06d}", f"evt_{i}", account_id, endpoint_id, url,
         None, "standard", "message.status", f"msg_{i}", 1, "{}", status, 0,
         NOW - timedelta(seconds=start + count - i), NOW, NOW, None, None)
        for i in range(count)
    ]  # fmt: skip


def plan(conn: Connection, sql: str, params: tuple[object, ...]) -> str:
    """The query plan's text, as the database gives it."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in rows)
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))


def sorts(found: str) -> bool:
    """Whether a plan sorts what it read (SQLite's temporary b-tree, PostgreSQL's Sort node)."""
    return "TEMP B-TREE" in found or "Sort" in found


def stamp(conn: Connection) -> object:
    return NOW.isoformat(sep=" ") if conn.dialect.name == "sqlite" else NOW


class TestWebhookClaim:
    def test_only_due_pending_deliveries_of_live_endpoints_not_busy_are_taken_oldest_first(
        self, db: Database, operator: Operator
    ):
        account = operator.customer().account.id
        with db.write() as conn:
            for name, enabled in (("wep_live", True), ("wep_busy", True), ("wep_off", False)):
                endpoint(conn, account, name, enabled=enabled)
            rows = [
                *deliveries(account, "wep_live", 3),
                *deliveries(account, "wep_live", 5, status="delivered", start=10),
                *deliveries(account, "wep_live", 2, status="failed", start=20),
                *deliveries(account, "wep_busy", 2, start=30),
                *deliveries(account, "wep_off", 2, start=40),
                *deliveries(account, None, 2, start=50),  # a request's own callback: no endpoint
            ]
            later = deliveries(account, "wep_live", 1, start=60)[0]
            rows.append((*later[:13], NOW + timedelta(minutes=1), *later[14:]))  # not due yet
            DeliveryRepository(conn).insert(rows)
        with db.write() as conn:
            first = DeliveryRepository(conn).claim("wrk_a", NOW, 3, ("wep_busy",))
            rest = DeliveryRepository(conn).claim("wrk_b", NOW, 10, ("wep_busy",))
            again = DeliveryRepository(conn).claim("wrk_c", NOW, 10, ())
        # the callbacks are the oldest, then the live endpoint's three (RETURNING keeps no order)
        assert sorted(row["id"] for row in first) == [
            "whd_cb_pending_000050",
            "whd_cb_pending_000051",
            "whd_wep_live_pending_000000",
        ]
        assert sorted(row["id"] for row in rest) == [
            "whd_wep_live_pending_000001",
            "whd_wep_live_pending_000002",
        ]
        assert sorted(row["id"] for row in again) == [
            "whd_wep_busy_pending_000030",
            "whd_wep_busy_pending_000031",
        ]
        first.sort(key=lambda row: row["id"])
        assert (first[0]["created_at"], first[0]["url"]) == (NOW, "https://callback.test/hook")
        assert (first[2]["endpoint_id"], first[2]["sequence"]) == ("wep_live", 1)

    @pytest.mark.parametrize("busy", [[], ["wep_live"]])
    def test_the_claim_walks_the_due_index_whatever_was_delivered_before(
        self, db: Database, operator: Operator, busy: list[str]
    ):
        account = operator.customer().account.id
        with db.write() as conn:
            endpoint(conn, account, "wep_live")
            DeliveryRepository(conn).insert(
                [
                    *deliveries(account, "wep_live", 5_000, status="delivered"),
                    *deliveries(account, "wep_live", 2_000, start=5_000),  # a backlog
                    *deliveries(account, None, 20, start=7_000),
                ]
            )
        with db.write() as conn:
            analyze(conn, "webhook_deliveries")
            analyze(conn, "webhook_endpoints")
            params = ("wrk", stamp(conn), stamp(conn), *given(conn.dialect, busy), 64)
            found = plan(conn, _CLAIM[conn.dialect.name], params)
        assert "ix_webhook_deliveries_due" in found, found
        assert not sorts(found), found


class TestJobClaim:
    def test_each_lane_is_read_from_the_due_index_up_to_the_limit(self, db: Database):
        """Jobs that are not due yet (a sent message's expiry in lane 0, scheduled sends in lane 1)
        are not read: each lane is a range of the due index, in run_at order."""
        later = NOW + timedelta(hours=1)
        with db.write() as conn:
            jobs = JobRepository(conn)
            jobs.add([(JobKind.EXPIRE.value, f"msg_sent_{i}", later, 0, NOW, 0) for i in range(3_000)])
            jobs.add([(JobKind.DISPATCH.value, f"msg_later_{i}", later, 0, NOW, 1) for i in range(3_000)])
            jobs.add([(JobKind.DISPATCH.value, f"msg_due_{i}", NOW, 0, NOW, i % 2) for i in range(10)])
            analyze(conn, "jobs")
            sql, _ = _claim_sql(conn.dialect)
            found = plan(conn, sql, _claim_params("wrk", stamp(conn), 64))
        with db.write() as conn:
            claimed = JobRepository(conn).claim("wrk", NOW, 64)
        if conn.dialect.name == "sqlite":
            assert found.count("USING INDEX ix_jobs_due (lane=? AND run_at<?)") == len(Lane), found
        for lane in Lane if conn.dialect.name == "postgresql" else ():
            assert f"Index Cond: ((lane = {lane.value}) AND (run_at <= " in found, found
        assert sorted(job.message_id or "" for job in claimed) == sorted(f"msg_due_{i}" for i in range(10))
        lane_0 = {f"msg_due_{i}" for i in range(0, 10, 2)}
        assert {job.message_id for job in claimed[:5]} == lane_0  # codes first

    def test_the_limit_holds_and_lane_0_goes_first_in_a_backlog(self, db: Database):
        with db.write() as conn:
            jobs = JobRepository(conn)
            jobs.add([(JobKind.DISPATCH.value, f"msg_n_{i:03d}", NOW - timedelta(seconds=i), 0, NOW, 1)
                      for i in range(100)])  # fmt: skip
            jobs.add([(JobKind.DISPATCH.value, f"msg_u_{i:03d}", NOW, 0, NOW, 0) for i in range(3)])
        with db.write() as conn:
            claimed = JobRepository(conn).claim("wrk", NOW, 10)
        assert [job.message_id for job in claimed[:3]] == ["msg_u_000", "msg_u_001", "msg_u_002"]
        # then lane 1's oldest first
        assert [job.message_id for job in claimed[3:]] == [f"msg_n_{i:03d}" for i in range(99, 92, -1)]


def analyze(conn: Connection, table: str) -> None:
    """Statistics as a running gateway has them: PostgreSQL's (autovacuum, and the upkeep's
    ``qasid.db.statistics``); none on SQLite, which the gateway never analyzes."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table}")
