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


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
