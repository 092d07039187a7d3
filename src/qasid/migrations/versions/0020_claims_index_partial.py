"""the queues' claimed_by indexes hold claimed rows only, so a claim walks the due index

``jobs`` and ``webhook_deliveries`` each had a full index on ``claimed_by``, used to take a dead
worker's claims back. A full index also answers ``claimed_by IS NULL``, and SQLite chose it for
the claim: every unclaimed row (a send backlog, scheduled jobs, and every webhook delivery ever
delivered, since finished deliveries are kept) read and sorted on every claim, in place of the
partial due index walked in order up to the claim's limit. Indexing only claimed rows leaves the
claim nothing to choose but the due index, and still serves ``claimed_by = ?`` and ``IN``.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("jobs", "webhook_deliveries")
CLAIMED = sa.text("claimed_by IS NOT NULL")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_claimed_by", table_name=table)
        op.create_index(
            f"ix_{table}_claimed_by",
            table,
            ["claimed_by"],
            sqlite_where=CLAIMED,
            postgresql_where=CLAIMED,
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_claimed_by", table_name=table)
        op.create_index(f"ix_{table}_claimed_by", table, ["claimed_by"])
