"""stop and block lists, opt-out words

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:45:11.962301
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "blocked_numbers",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "number", "kind", name=op.f("pk_blocked_numbers")),
    )
    with op.batch_alter_table("blocked_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blocked_numbers_number"), ["number"], unique=False)

    op.create_table(
        "inbound_keywords",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("stop_words", sa.Text(), nullable=True),
        sa.Column("start_words", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_inbound_keywords_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_inbound_keywords")),
    )


def downgrade() -> None:
    op.drop_table("inbound_keywords")
    with op.batch_alter_table("blocked_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blocked_numbers_number"))

    op.drop_table("blocked_numbers")
