"""Alembic environment: runs migrations against the URL that ``qasid.migrations`` configured."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from qasid.models import metadata

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "qasid.migrations.alembic_config sets sqlalchemy.url"  # noqa: S101 - programming error
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `qasid migrate`")
run()
