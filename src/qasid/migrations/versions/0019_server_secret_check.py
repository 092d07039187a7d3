"""the server secret's fingerprint: every process of a gateway must read the same server secret
(codes are checked against HMACs keyed by it, connectors' credentials and webhook signing secrets
are sealed under it), and one that reads another now refuses to start instead of failing
every check or sealing what the others cannot open

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "server_secret_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_secret_check")),
    )


def downgrade() -> None:
    op.drop_table("server_secret_check")
