"""sender approvals per destination, numbers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:07:03.974015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "numbers",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_numbers_account_id_accounts")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_numbers")),
    )
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_numbers_account_id"), ["account_id"], unique=False)

    op.create_table(
        "sender_approvals",
        sa.Column("sender_id", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["senders.id"], name=op.f("fk_sender_approvals_sender_id_senders")
        ),
        sa.PrimaryKeyConstraint("sender_id", "country", "operator", name=op.f("pk_sender_approvals")),
    )
    with op.batch_alter_table("senders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("senders", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("purpose")

    op.drop_table("sender_approvals")
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_numbers_account_id"))

    op.drop_table("numbers")
