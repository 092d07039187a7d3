"""Alembic migrations are the only source of the schema; the tables the code queries must match."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from qasid.db import normalize_url
from qasid.messages.repository import BatchRow, MessageRow
from qasid.migrations import downgrade, upgrade
from qasid.models import batches, messages, metadata


def differences(url: str) -> list[object]:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        found = compare_metadata(context, metadata)
    engine.dispose()
    return list(found)


def tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


class TestMigrations:
    def test_the_migrated_schema_matches_the_tables_in_code(self, database_url):
        assert differences(database_url) == []

    def test_downgrade_to_nothing_and_back(self, database_url):
        downgrade(database_url, "base")
        assert tables(database_url) <= {"alembic_version"}
        upgrade(database_url)
        assert {t.name for t in metadata.sorted_tables} <= tables(database_url)
        assert differences(database_url) == []


class TestStorage:
    def test_on_postgresql_message_pages_keep_room_for_hot_status_updates(self, database_url):
        engine = create_engine(normalize_url(database_url))
        try:
            if engine.dialect.name != "postgresql":
                pytest.skip("fillfactor is PostgreSQL's; SQLite has no HOT updates")
            with engine.connect() as conn:
                found = dict(
                    conn.execute(
                        text(
                            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
                            "WHERE relname IN ('messages', 'message_parts') "
                            "AND relnamespace = to_regnamespace(current_schema())"
                        )
                    ).all()
                )
        finally:
            engine.dispose()
        assert found == {"messages": "fillfactor=75", "message_parts": "fillfactor=75"}


class TestRowShapes:
    def test_the_hot_path_row_tuples_follow_their_tables_column_order(self):
        assert MessageRow._fields == tuple(c.name for c in messages.columns)
        assert BatchRow._fields == tuple(c.name for c in batches.columns)
