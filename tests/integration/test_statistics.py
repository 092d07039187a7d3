"""PostgreSQL's statistics for the fast-growing tables are refreshed once they have grown
(qasid.db.statistics): without it the dispatch's lookups by id were planned as table scans."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import make_url, text

from qasid.db import Database, statistics


def changes_seen(db: Database, table: str, at_least: int) -> None:
    """Wait until PostgreSQL's cumulative statistics show ``at_least`` changed rows in ``table``
    (backends report them a moment after they commit)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.read() as conn:
            found = conn.execute(
                text(
                    "SELECT n_mod_since_analyze FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = :table"
                ),
                {"table": table},
            ).scalar_one()
        if found >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"{table}: PostgreSQL never reported {at_least} changed rows")


def workers_added(db: Database, count: int, first: int = 1) -> None:
    """``count`` rows into ``workers``, waited for until PostgreSQL's statistics count them."""
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO workers (id, role, hostname, pid, started_at, heartbeat_at) "
                "SELECT 'wrk_' || g, 'worker', 'here', g, now(), now() "
                "FROM generate_series(:first, :first + :n - 1) AS g"
            ),
            {"n": count, "first": first},
        )
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
    changes_seen(db, "workers", count)


@pytest.fixture
def postgres(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("SQLite plans without PostgreSQL's row statistics")
    return db


class TestRefresh:
    def test_a_table_that_grew_past_the_floor_is_analyzed_once_and_the_others_are_not(self, postgres):
        db = postgres
        with db.write() as conn:
            statistics.refresh(conn, ["workers", "jobs"], floor=0)  # start from fresh figures
        workers_added(db, 30)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers", "jobs"], floor=20) == ["workers"]
        with db.read() as conn:
            rows = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('workers')")
            ).scalar_one()
        assert rows == 30  # what the planner now believes
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers", "jobs"], floor=20) == []

    def test_growth_below_the_fraction_of_the_table_waits(self, postgres):
        db = postgres
        workers_added(db, 100)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == ["workers"]
        workers_added(db, 15, first=101)  # 15% of 100
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10, fraction=0.2) == []
            assert statistics.refresh(conn, ["workers"], floor=10, fraction=0.1) == ["workers"]

    def test_rows_changed_or_come_and_gone_leave_a_table_of_the_same_size_alone(self, postgres):
        """What counts is how many rows a table holds: updates, and a queue's rows added and taken
        away again, do not make a new plan worth an ``ANALYZE``."""
        db = postgres
        workers_added(db, 100)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == ["workers"]
        with db.write() as conn:
            for _ in range(3):
                conn.execute(text("UPDATE workers SET heartbeat_at = now()"))
        changes_seen(db, "workers", 300)
        workers_added(db, 50, first=101)
        with db.write() as conn:
            conn.execute(text("DELETE FROM workers WHERE pid > 100"))
        changes_seen(db, "workers", 400)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == []

    def test_a_table_that_shrank_is_analyzed_too(self, postgres):
        db = postgres
        workers_added(db, 100)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == ["workers"]
            conn.execute(text("DELETE FROM workers WHERE pid > 30"))
        changes_seen(db, "workers", 70)
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == ["workers"]

    def test_only_one_process_refreshes_at_a_time(self, postgres):
        db = postgres
        workers_added(db, 30)
        with db.write() as holder:
            holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": statistics.LOCK_KEY})
            with db.write() as conn:
                assert statistics.refresh(conn, ["workers"], floor=10) == []
        with db.write() as conn:
            assert statistics.refresh(conn, ["workers"], floor=10) == ["workers"]

    def test_nothing_happens_on_sqlite(self, db):
        if not db.is_sqlite:
            pytest.skip("this one checks that SQLite, which has no such statistics, is left alone")
        with db.write() as conn:
            assert statistics.refresh(conn, floor=0, fraction=0) == []


class TestPlannerCosts:
    def test_qasids_sessions_cost_random_reads_as_on_ssd_and_keep_the_urls_own_options(self, db):
        if db.is_sqlite:
            pytest.skip("random_page_cost is PostgreSQL's")
        with db.read() as conn:
            cost = conn.execute(text("SHOW random_page_cost")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        assert float(cost) == 1.1
        given = make_url(db.url).query["options"]  # the suite's own schema per test
        assert isinstance(given, str)
        assert given.startswith("-csearch_path=")
        assert schema == given.removeprefix("-csearch_path=")

    def test_zero_keeps_the_servers_setting(self, db):
        if db.is_sqlite:
            pytest.skip("random_page_cost is PostgreSQL's")
        plain = Database(db.url, random_page_cost=0)
        try:
            with plain.read() as conn:
                source = conn.execute(
                    text("SELECT source FROM pg_settings WHERE name = 'random_page_cost'")
                ).scalar_one()
        finally:
            plain.dispose()
        with db.read() as conn:
            ours = conn.execute(
                text("SELECT source FROM pg_settings WHERE name = 'random_page_cost'")
            ).scalar_one()
        assert (ours, source in ("default", "configuration file")) == ("client", True)
