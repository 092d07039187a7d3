"""jobs without a foreign key to messages: the outbox's rows are written with their message, and
checking the key cost PostgreSQL a lock on the message's row per job

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_message_id_messages", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.create_foreign_key("fk_jobs_message_id_messages", "messages", ["message_id"], ["id"])
