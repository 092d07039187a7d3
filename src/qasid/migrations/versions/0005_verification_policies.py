"""verification policies and number blocks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:12:08.345560
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "verification_policies",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("countries", sa.String(length=400), nullable=True),
        sa.Column("channels", sa.String(length=64), nullable=True),
        sa.Column("code_length", sa.Integer(), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("max_sends", sa.Integer(), nullable=True),
        sa.Column("number_window_seconds", sa.Integer(), nullable=True),
        sa.Column("number_window_limit", sa.Integer(), nullable=True),
        sa.Column("active_grace_seconds", sa.Integer(), nullable=True),
        sa.Column("number_daily_limit", sa.Integer(), nullable=True),
        sa.Column("account_active_limit", sa.Integer(), nullable=True),
        sa.Column("prefix_window_seconds", sa.Integer(), nullable=True),
        sa.Column("prefix_limit", sa.Integer(), nullable=True),
        sa.Column("texts", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_verification_policies_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_verification_policies")),
    )
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_verifications_account_id_prefix_created_at"),
            ["account_id", "prefix", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verifications_account_id_prefix_created_at"))
        batch_op.drop_column("prefix")

    op.drop_table("verification_policies")
