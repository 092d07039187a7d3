"""job lanes: one-time codes are claimed before everything else that is due

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

UNCLAIMED = sa.text("claimed_by IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="1"))
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.create_index(
        "ix_jobs_due", "jobs", ["lane", "run_at"], sqlite_where=UNCLAIMED, postgresql_where=UNCLAIMED
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.create_index("ix_jobs_due", "jobs", ["run_at"], sqlite_where=UNCLAIMED, postgresql_where=UNCLAIMED)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lane")
