"""an account's pending verifications counted from one index: (account_id, status, expires_at)
in place of (account_id, status)

Every create counts the account's pending verifications that are still running. With only
(account_id, status), SQLite chose (status, expires_at) and walked every account's pending ones;
PostgreSQL read each of the account's rows for its expiry. The new index answers the count alone
and serves every query the old one did (its first two columns).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:10:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_verifications_account_id_status_expires_at",
        "verifications",
        ["account_id", "status", "expires_at"],
    )
    op.drop_index("ix_verifications_account_id_status", table_name="verifications")


def downgrade() -> None:
    op.create_index("ix_verifications_account_id_status", "verifications", ["account_id", "status"])
    op.drop_index("ix_verifications_account_id_status_expires_at", table_name="verifications")
