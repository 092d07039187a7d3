"""inbound: messages from phones, and parts awaiting their siblings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:41:54.832827
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("sender", sa.String(length=65), nullable=False),
        sa.Column("recipient", sa.String(length=65), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_messages_recipient_received_at"),
            ["recipient", "received_at"],
            unique=False,
        )

    op.create_table(
        "inbound_parts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("sender", sa.String(length=65), nullable=False),
        sa.Column("recipient", sa.String(length=65), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_parts")),
        sa.UniqueConstraint(
            "connector_id",
            "sender",
            "recipient",
            "reference",
            "sequence",
            name=op.f("uq_inbound_parts_connector_id_sender_recipient_reference_sequence"),
        ),
    )


def downgrade() -> None:
    op.drop_table("inbound_parts")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_recipient_received_at"))

    op.drop_table("inbound_messages")
