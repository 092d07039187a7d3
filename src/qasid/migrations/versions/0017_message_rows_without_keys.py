"""messages, their parts and their events without foreign keys: each of these tables takes a row
per message or per state change, and in PostgreSQL checking the keys cost more than half of each
insert (a lookup and a share lock on the parent row)

The rows are written by the code paths that write (or have just read) their parents, in the same
transaction, and accounts, batches and messages are never deleted. The indexes stay.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None

KEYS = [  # (table, constraint, column, parent)
    ("messages", "fk_messages_account_id_accounts", "account_id", "accounts"),
    ("messages", "fk_messages_batch_id_batches", "batch_id", "batches"),
    ("message_parts", "fk_message_parts_message_id_messages", "message_id", "messages"),
    ("message_events", "fk_message_events_message_id_messages", "message_id", "messages"),
]


def upgrade() -> None:
    for table in dict.fromkeys(table for table, *_ in KEYS):
        with op.batch_alter_table(table) as batch:
            for _, name, *_ in (key for key in KEYS if key[0] == table):
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in dict.fromkeys(table for table, *_ in KEYS):
        with op.batch_alter_table(table) as batch:
            for _, name, column, parent in (key for key in KEYS if key[0] == table):
                batch.create_foreign_key(name, parent, [column], ["id"])
