"""verifications: one-time codes, their sends and checks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:47:48.241403
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("channels", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("code_length", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("code_seal", sa.String(length=10), nullable=False),
        sa.Column("code_supplied", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("max_sends", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_verifications_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
    )
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verifications_account_id_id"), ["account_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verifications_account_id_recipient_created_at"),
            ["account_id", "recipient", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_verifications_account_id_status"), ["account_id", "status"], unique=False
        )

    op.create_table(
        "verification_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_verification_checks_verification_id_verifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_checks")),
    )
    with op.batch_alter_table("verification_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_checks_verification_id"), ["verification_id"], unique=False
        )

    op.create_table(
        "verification_sends",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_verification_sends_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_verification_sends_verification_id_verifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_sends")),
    )
    with op.batch_alter_table("verification_sends", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_sends_verification_id"), ["verification_id"], unique=False
        )

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verification_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("verification_id")

    with op.batch_alter_table("verification_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_sends_verification_id"))

    op.drop_table("verification_sends")
    with op.batch_alter_table("verification_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_checks_verification_id"))

    op.drop_table("verification_checks")
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verifications_account_id_status"))
        batch_op.drop_index(batch_op.f("ix_verifications_account_id_recipient_created_at"))
        batch_op.drop_index(batch_op.f("ix_verifications_account_id_id"))

    op.drop_table("verifications")
