"""The schema as SQLAlchemy Core tables, used to build queries.

Alembic migrations (``qasid/migrations``) are the only thing that creates or changes the schema;
``tests/integration/test_migrations.py`` proves these tables and the migrated database agree.

Money columns are integer minor units. Timestamps are UTC (``UTCDateTime``). Ids are prefixed ULIDs
(``qasid.domain.ids``), so ordering by id is ordering by creation time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Column as C
from sqlalchemy.types import DateTime, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both databases.

    On SQLite the value is stored as text in SQLAlchemy's own DATETIME format
    (``2026-11-21 23:40:57.011680``, UTC); the processors below produce and read that format directly
    with ``isoformat``/``fromisoformat`` (C), because the hot write path converts several per row."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column")
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"

        return to_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return from_text

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id(prefix_len: int = 40) -> C[str]:
    return C("id", String(prefix_len), primary_key=True)


def _created() -> C[datetime]:
    return C("created_at", UTCDateTime(), nullable=False)


accounts = Table(
    "accounts",
    metadata,
    _id(),
    C("name", String(200), nullable=False),
    C("status", String(16), nullable=False),  # active | suspended
    C("payment_type", String(16), nullable=False),  # prepaid | postpaid
    C("currency", String(3), nullable=False),
    C("credit_limit", BigInteger, nullable=False),  # postpaid: how far below zero it may go
    # Running total of ledger_entries.amount, changed only in the transaction that adds the entry.
    C("balance", BigInteger, nullable=False),
    C("default_region", String(2), nullable=False),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    C("name", String(100), nullable=False),
    C("prefix", String(16), nullable=False, unique=True),  # shown in lists; finds the key
    C("secret_hash", String(64), nullable=False),  # sha256 of the whole key, hex
    _created(),
    C("expires_at", UTCDateTime(), nullable=True),
    C("revoked_at", UTCDateTime(), nullable=True),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("kind", String(16), nullable=False),  # topup | reserve | refund | adjustment
    C("amount", BigInteger, nullable=False),  # signed: credit positive, debit negative
    C("batch_id", String(40), nullable=True),
    C("message_id", String(40), nullable=True),
    C("note", String(500), nullable=True),
    _created(),
    Index(None, "account_id", "id"),
)

prices = Table(
    "prices",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("scope", String(40), nullable=False),  # "*" for everyone, or an account id
    C("country", String(2), nullable=False),  # ISO 3166 alpha-2, or "*"
    C("operator", String(64), nullable=False),  # operator slug, or "*"
    C("channel", String(16), nullable=False),  # sms (whatsapp, telegram later)
    C("currency", String(3), nullable=False),
    C("price", BigInteger, nullable=False),  # minor units per part
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("scope", "country", "operator", "channel", "currency"),
)

senders = Table(
    "senders",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("name", String(20), nullable=False),  # as sent: "Qasid" or "+9647701234567"
    C("kind", String(16), nullable=False),  # alphanumeric | numeric
    C("status", String(16), nullable=False),  # pending | approved | rejected
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "name"),
)

# One request: what its messages share (text, sender, timing, reference) is stored once, here.
batches = Table(
    "batches",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("channel", String(16), nullable=False),
    C("sender", String(20), nullable=False),  # as sent: "Qasid" or "+9647701234567"
    C("body", Text, nullable=False),
    C("encoding", String(8), nullable=False),  # gsm7 | ucs2
    C("segments", Integer, nullable=False),
    C("currency", String(3), nullable=False),
    C("client_ref", String(64), nullable=True),
    C("schedule_at", UTCDateTime(), nullable=True),
    C("expires_at", UTCDateTime(), nullable=False),
    C("recipients", Integer, nullable=False),
    C("total_cost", BigInteger, nullable=False),
    _created(),
)

# One recipient of a batch. Kept narrow: a 500-recipient request writes 500 of these.
messages = Table(
    "messages",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("batch_id", String(40), ForeignKey("batches.id"), nullable=False, index=True),
    C("recipient", String(20), nullable=False),  # E.164
    C("country", String(2), nullable=False),
    C("operator", String(64), nullable=True),
    C("price", BigInteger, nullable=False),  # what was reserved: segments x price per part
    C("status", String(24), nullable=False),
    C("updated_at", UTCDateTime(), nullable=False),
    Index(None, "account_id", "id"),
    Index(None, "account_id", "recipient"),
)

# Status changes after acceptance; the acceptance itself is the message's created_at.
message_events = Table(
    "message_events",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("message_id", String(40), ForeignKey("messages.id"), nullable=False),
    C("status", String(24), nullable=False),
    C("detail", Text, nullable=True),  # raw report or reason, kept as received
    C("at", UTCDateTime(), nullable=False),
    Index(None, "message_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    C("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    C("key", String(255), primary_key=True),
    C("request_hash", String(64), nullable=False),
    C("status_code", Integer, nullable=False),
    C("response", LargeBinary, nullable=False),
    _created(),
    Index(None, "created_at"),
)
