"""Alembic migrations: the only source of the schema. ``qasid migrate`` applies them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from qasid.db import normalize_url

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # "%" is ConfigParser interpolation syntax; URLs may contain it (escaped passwords, options).
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def pending(database_url: str) -> str | None:
    """A sentence saying the schema is behind the code, or None when it is at head."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from sqlalchemy import create_engine  # noqa: PLC0415

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current == head:
        return None
    return f"the database schema is at {current or 'nothing'}, the code needs {head}: run `qasid migrate`"


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
