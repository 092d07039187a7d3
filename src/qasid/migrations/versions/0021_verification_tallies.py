"""per account, a count of its pending verifications, kept as their statuses change

Every create counted the account's pending verifications that were still running, from the index
(account_id, status, expires_at): as many index entries a batch of creates as the account has
pending. An account with 10,000 pending (users who never type their code: a default limit's
worth) made PostgreSQL spend 1.47 ms of CPU a create-and-check pair at 500 pairs a second, about
2.5 times its cost with a thousand. The count now lives in a row per account; the table is filled
here from the verifications pending now.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "verification_tallies",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_verification_tallies_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_verification_tallies")),
    )
    op.execute(
        "INSERT INTO verification_tallies (account_id, pending) "
        "SELECT account_id, count(*) FROM verifications WHERE status = 'pending' GROUP BY account_id"
    )


def downgrade() -> None:
    op.drop_table("verification_tallies")
