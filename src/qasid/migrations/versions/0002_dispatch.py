"""dispatch: jobs, workers, connectors, routes, parts, reports, simulator

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:01:16.796877
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:

    op.create_table(
        "connectors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("name", name=op.f("uq_connectors_name")),
    )
    op.create_table(
        "delivery_reports",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("carrier_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_reports")),
    )
    with op.batch_alter_table("delivery_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_reports_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            "ix_delivery_reports_unmatched",
            ["connector_id", "carrier_id"],
            unique=False,
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        )

    op.create_table(
        "simulator_inbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("carrier_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("sender", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_inbox")),
        sa.UniqueConstraint("carrier_id", name=op.f("uq_simulator_inbox_carrier_id")),
    )
    with op.batch_alter_table("simulator_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_simulator_inbox_account_id_recipient"), ["account_id", "recipient"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_simulator_inbox_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            "ix_simulator_inbox_unreported",
            ["report_at"],
            unique=False,
            sqlite_where=sa.text("reported_at IS NULL AND report_at IS NOT NULL"),
            postgresql_where=sa.text("reported_at IS NULL AND report_at IS NOT NULL"),
        )

    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"], ["connectors.id"], name=op.f("fk_routes_connector_id_connectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
    )
    op.create_table(
        "jobs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_jobs_message_id_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_claimed_by"), ["claimed_by"], unique=False)
        batch_op.create_index(
            "ix_jobs_due",
            ["run_at"],
            unique=False,
            sqlite_where=sa.text("claimed_by IS NULL"),
            postgresql_where=sa.text("claimed_by IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_jobs_message_id"), ["message_id"], unique=False)

    op.create_table(
        "message_parts",
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.String(length=40), nullable=False),
        sa.Column("carrier_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_parts_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", "part", name=op.f("pk_message_parts")),
        sa.UniqueConstraint(
            "connector_id", "carrier_id", name=op.f("uq_message_parts_connector_id_carrier_id")
        ),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=32), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("error_code")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("request_id")

    op.drop_table("message_parts")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_message_id"))
        batch_op.drop_index(
            "ix_jobs_due",
            sqlite_where=sa.text("claimed_by IS NULL"),
            postgresql_where=sa.text("claimed_by IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_jobs_claimed_by"))

    op.drop_table("jobs")
    op.drop_table("routes")
    op.drop_table("workers")
    with op.batch_alter_table("simulator_inbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_simulator_inbox_unreported",
            sqlite_where=sa.text("reported_at IS NULL AND report_at IS NOT NULL"),
            postgresql_where=sa.text("reported_at IS NULL AND report_at IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_simulator_inbox_message_id"))
        batch_op.drop_index(batch_op.f("ix_simulator_inbox_account_id_recipient"))

    op.drop_table("simulator_inbox")
    with op.batch_alter_table("delivery_reports", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_delivery_reports_unmatched",
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_delivery_reports_message_id"))

    op.drop_table("delivery_reports")
    op.drop_table("connectors")
