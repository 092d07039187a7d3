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
    Boolean,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
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


def _claims_index(table: str) -> Index:
    """A queue table's claimed rows by worker (to take a dead worker's claims back). Only claimed
    rows are in it: a full index on ``claimed_by`` also answers ``claimed_by IS NULL``, and SQLite
    chose it for the claim itself, walking every unclaimed row (a backlog, scheduled jobs, every
    delivered webhook) and sorting them, on every claim, instead of the due index in its order."""
    return Index(
        f"ix_{table}_claimed_by",
        "claimed_by",
        sqlite_where=text("claimed_by IS NOT NULL"),
        postgresql_where=text("claimed_by IS NOT NULL"),
    )


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
    C("purpose", String(300), nullable=True),  # what the account said it is for, when it asked
    C("reason", String(300), nullable=True),  # why the operator rejected it
    UniqueConstraint("account_id", "name"),
)

# Where an approved sender may go, when the operator approved it per destination (operators register
# alphanumeric senders network by network), and the price per part there if it has its own. A sender
# without any row goes everywhere at the account's prices.
sender_approvals = Table(
    "sender_approvals",
    metadata,
    C("sender_id", String(40), ForeignKey("senders.id"), primary_key=True),
    C("country", String(2), primary_key=True),  # ISO 3166 alpha-2, or "*"
    C("operator", String(64), primary_key=True),  # operator slug, or "*"
    C("price", BigInteger, nullable=True),  # minor units per part, in the account's currency
    _created(),
)

# Long numbers the operator holds; one assigned to an account is its sender and receives its inbound
# messages.
numbers = Table(
    "numbers",
    metadata,
    C("number", String(20), primary_key=True),  # E.164
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=True, index=True),  # NULL: free
    C("note", String(200), nullable=True),
    _created(),
    C("assigned_at", UTCDateTime(), nullable=True),
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
    C("request_id", String(64), nullable=True),  # the API request that made it, for the logs
    _created(),
    # Set when the batch sends a verification's code: the body holds "{code}", filled in at dispatch.
    C("verification_id", String(40), nullable=True),
    # The request's own status callback (JSON: url, statuses, sealed secret, format), if it gave one.
    C("callback", Text, nullable=True),
    C("campaign_id", String(40), nullable=True, index=True),  # set when a campaign made it
)

# One recipient of a batch. Kept narrow: a 500-recipient request writes 500 of these. On PostgreSQL
# its pages keep a quarter free (fillfactor 75, migration 0016) so that status updates, which change
# no indexed column, are HOT: written beside the old version, with no new index entries.
messages = Table(
    "messages",
    metadata,
    _id(),
    C("account_id", String(40), nullable=False),  # no foreign keys: see migration 0017
    C("batch_id", String(40), nullable=False, index=True),
    C("recipient", String(20), nullable=False),  # E.164
    C("country", String(2), nullable=False),
    C("operator", String(64), nullable=True),
    C("price", BigInteger, nullable=False),  # what was reserved: segments x price per part
    C("status", String(24), nullable=False),
    C("updated_at", UTCDateTime(), nullable=False),
    C("error_code", String(32), nullable=True),  # the carrier's (or our) code when it failed
    Index(None, "account_id", "id"),
    Index(None, "account_id", "recipient"),
)

# Status changes after acceptance; the acceptance itself is the message's created_at.
message_events = Table(
    "message_events",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("message_id", String(40), nullable=False),  # no foreign key: see migration 0017
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


# --- Dispatch: the outbox, the workers that drain it, and where messages go. -----------------------

# Durable work. A row is written in the transaction that makes the work necessary (accepting a
# message writes its dispatch job), claimed in batches by one worker, and deleted when done.
jobs = Table(
    "jobs",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("kind", String(16), nullable=False),  # dispatch
    # No foreign key: a job is transient work on a message written in the same transaction, and
    # its check cost PostgreSQL ~5 µs a job, a lock on the message's row each (docs/performance.md,
    # "Campaign fan-out"). A job whose message is gone is dropped when claimed.
    C("message_id", String(40), nullable=True, index=True),
    C("run_at", UTCDateTime(), nullable=False),  # due time: now, the schedule time, or the next retry
    C("attempts", Integer, nullable=False),
    C("last_error", Text, nullable=True),
    C("claimed_by", String(40), nullable=True),  # a worker id while one holds it
    C("claimed_at", UTCDateTime(), nullable=True),
    _created(),
    # 0: claimed before every job of lane 1 that is due (one-time codes); 1: everything else.
    C("lane", SmallInteger, nullable=False, server_default="1"),
    Index(
        "ix_jobs_due",
        "lane",
        "run_at",
        sqlite_where=text("claimed_by IS NULL"),
        postgresql_where=text("claimed_by IS NULL"),
    ),
    _claims_index("jobs"),
)

# One row: which server secret (qasid.server_secret) this gateway's data is keyed and sealed with,
# as a fingerprint that reveals nothing of it. A process reading another secret refuses to start.
server_secret_check = Table(
    "server_secret_check",
    metadata,
    C("id", Integer, primary_key=True, autoincrement=False),  # always 1
    C("fingerprint", String(64), nullable=False),
    _created(),
)

# Every process that claims jobs says it is alive here; jobs held by a silent one are recovered.
workers = Table(
    "workers",
    metadata,
    _id(),
    C("role", String(16), nullable=False),  # serve | worker
    C("hostname", String(255), nullable=False),
    C("pid", Integer, nullable=False),
    C("started_at", UTCDateTime(), nullable=False),
    C("heartbeat_at", UTCDateTime(), nullable=False),
    C("stopped_at", UTCDateTime(), nullable=True),
)

# One configured link to a carrier or provider.
connectors = Table(
    "connectors",
    metadata,
    _id(),
    C("name", String(64), nullable=False, unique=True),
    C("kind", String(16), nullable=False),  # simulator (smpp, http, whatsapp, telegram later)
    C("channel", String(16), nullable=False),
    C("config", Text, nullable=False),  # JSON, validated by the connector kind
    C("enabled", Boolean, nullable=False),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
)

# Which connector carries what: the most specific match of the lowest priority number goes first.
routes = Table(
    "routes",
    metadata,
    _id(),
    C("channel", String(16), nullable=False),
    C("country", String(2), nullable=False),  # ISO 3166 alpha-2, or "*"
    C("operator", String(64), nullable=False),  # operator slug, or "*"
    C("prefix", String(20), nullable=False),  # E.164 digits the number starts with, or ""
    C("priority", Integer, nullable=False),
    C("connector_id", String(40), ForeignKey("connectors.id"), nullable=False),
    _created(),
)

# A message as the carrier saw it: one row per part, with the carrier's id for it (fillfactor 75 on
# PostgreSQL, as for messages: its status is updated when the receipt comes).
message_parts = Table(
    "message_parts",
    metadata,
    C("message_id", String(40), primary_key=True),  # no foreign key: see migration 0017
    C("part", Integer, primary_key=True),  # 1..segments
    C("connector_id", String(40), nullable=False),
    C("carrier_id", String(64), nullable=False),
    C("status", String(24), nullable=False),
    C("error_code", String(32), nullable=True),
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("connector_id", "carrier_id"),
)

# Every delivery report as it arrived, matched to its message part when that part is known. A report
# that arrives before the submit that it answers has been recorded waits here, unmatched.
delivery_reports = Table(
    "delivery_reports",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("connector_id", String(40), nullable=False),
    C("carrier_id", String(64), nullable=False),
    C("status", String(24), nullable=False),  # normalised
    C("error_code", String(32), nullable=True),
    C("raw", Text, nullable=False),  # as the carrier sent it
    C("received_at", UTCDateTime(), nullable=False),
    C("message_id", String(40), nullable=True, index=True),  # set once matched
    Index(
        "ix_delivery_reports_unmatched",
        "connector_id",
        "carrier_id",
        sqlite_where=text("message_id IS NULL"),
        postgresql_where=text("message_id IS NULL"),
    ),
)

# The carrier simulator's own record of what reached "the phones", duplicates included.
simulator_inbox = Table(
    "simulator_inbox",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("connector_id", String(40), nullable=False),
    C("carrier_id", String(64), nullable=False, unique=True),
    C("message_id", String(40), nullable=False, index=True),  # the reference the gateway passed along
    C("account_id", String(40), nullable=False),
    C("recipient", String(20), nullable=False),
    C("sender", String(20), nullable=False),
    C("body", Text, nullable=False),
    C("part", Integer, nullable=False),
    C("parts", Integer, nullable=False),
    C("outcome", String(24), nullable=False),  # what the simulator will report
    C("report_at", UTCDateTime(), nullable=True),  # when, or NULL for never
    C("reported_at", UTCDateTime(), nullable=True),
    C("received_at", UTCDateTime(), nullable=False),
    Index(None, "account_id", "recipient"),
    Index(
        "ix_simulator_inbox_unreported",
        "report_at",
        sqlite_where=text("reported_at IS NULL AND report_at IS NOT NULL"),
        postgresql_where=text("reported_at IS NULL AND report_at IS NOT NULL"),
    ),
)


# Messages that arrived from phones (MO): whole, and the parts of concatenated ones still waiting
# for their siblings.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    C("id", String(40), primary_key=True),
    C("connector_id", String(40), nullable=False),
    C("sender", String(65), nullable=False),
    C("recipient", String(65), nullable=False),
    C("body", Text, nullable=False),
    C("parts", Integer, nullable=False),
    C("received_at", UTCDateTime(), nullable=False),
    # The account that owns the number it was sent to (NULL: nobody's).
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=True),
    Index(None, "recipient", "received_at"),
    Index(None, "account_id", "id"),
)

inbound_parts = Table(
    "inbound_parts",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("connector_id", String(40), nullable=False),
    C("sender", String(65), nullable=False),
    C("recipient", String(65), nullable=False),
    C("reference", Integer, nullable=False),
    C("total", Integer, nullable=False),
    C("sequence", Integer, nullable=False),
    C("body", Text, nullable=False),
    C("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("connector_id", "sender", "recipient", "reference", "sequence"),
)

# A one-time code sent to one number over a workflow of channels (qasid.otp). The code itself is
# never stored: ``code_digest`` checks it, ``code_seal`` lets the dispatcher send it again.
verifications = Table(
    "verifications",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("recipient", String(20), nullable=False),  # E.164
    C("country", String(2), nullable=False),
    C("channels", String(64), nullable=False),  # the workflow, comma separated: "whatsapp,sms"
    C("channel", String(16), nullable=False),  # the one in use
    C("status", String(24), nullable=False),  # pending | approved | canceled | expired | max_attempts_reached
    C("code_length", Integer, nullable=False),
    C("code_digest", String(64), nullable=False),
    C("code_seal", String(10), nullable=False),
    C("code_supplied", Boolean, nullable=False),
    C("locale", String(8), nullable=False),
    C("brand", String(32), nullable=False),
    C("sender", String(20), nullable=False),
    C("callback_url", Text, nullable=True),
    C("callback_secret", Text, nullable=True),  # sealed (qasid.vault); NULL: callbacks go unsigned
    # Where the message.status events of every send of the code go (the batch's callback: JSON of
    # url, statuses, sealed secret, format), if the request named one.
    C("message_callback", Text, nullable=True),
    C("attempts", Integer, nullable=False),  # wrong codes so far
    C("max_attempts", Integer, nullable=False),
    C("sends", Integer, nullable=False),
    C("max_sends", Integer, nullable=False),
    C("expires_at", UTCDateTime(), nullable=False),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    # The number without its last QASID_OTP_PREFIX_TAIL_DIGITS digits: the block a pumping attack walks.
    C("prefix", String(20), nullable=True),
    Index(None, "account_id", "id"),
    Index(None, "account_id", "recipient", "created_at"),
    # An account's pending ones still running, counted from the index alone when its tally
    # (verification_tallies) says it is at its limit; and its pages filtered by status.
    Index(None, "account_id", "status", "expires_at"),
    Index(None, "account_id", "prefix", "created_at"),
    Index(None, "status", "expires_at"),  # pending ones whose time ran out (the expiry sweep)
)

# Per account, how many of its verifications have the status pending (those whose time ran out
# included, until the expiry sweep writes them down): kept by every change of a verification's
# status (qasid.db.bulk.tally), so a create reads one row where it counted the pending ones.
verification_tallies = Table(
    "verification_tallies",
    metadata,
    C("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    C("pending", Integer, nullable=False),
)

# An account's own verification rules; a NULL column means the gateway's default (QASID_OTP_*).
verification_policies = Table(
    "verification_policies",
    metadata,
    C("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    C("countries", String(400), nullable=True),  # "IQ,JO", or "*" for any
    C("channels", String(64), nullable=True),  # the default workflow: "whatsapp,sms"
    C("code_length", Integer, nullable=True),
    C("ttl_seconds", Integer, nullable=True),
    C("max_attempts", Integer, nullable=True),
    C("max_sends", Integer, nullable=True),
    C("number_window_seconds", Integer, nullable=True),
    C("number_window_limit", Integer, nullable=True),
    C("active_grace_seconds", Integer, nullable=True),
    C("number_daily_limit", Integer, nullable=True),
    C("account_active_limit", Integer, nullable=True),
    C("prefix_window_seconds", Integer, nullable=True),
    C("prefix_limit", Integer, nullable=True),
    C("texts", Text, nullable=True),  # JSON: {"en": "... {code} ..."}
    C("updated_at", UTCDateTime(), nullable=False),
)

# Each time a verification's code went out: which channel, and the message that carried it.
verification_sends = Table(
    "verification_sends",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("verification_id", String(40), ForeignKey("verifications.id"), nullable=False, index=True),
    C("channel", String(16), nullable=False),
    C("message_id", String(40), ForeignKey("messages.id"), nullable=True),
    _created(),
)

# Each code a caller checked, and what it got.
verification_checks = Table(
    "verification_checks",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("verification_id", String(40), ForeignKey("verifications.id"), nullable=False, index=True),
    C("result", String(24), nullable=False),
    _created(),
)


# --- Webhooks: what customers are told, and every try at telling them (qasid.webhooks). -----------

# An account's receiver of events. The signing secret is sealed (qasid.vault) and shown once.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    C("url", Text, nullable=False),
    C("description", String(200), nullable=True),
    C("events", String(200), nullable=False),  # comma separated: "message.status,inbound.message"
    C("statuses", String(8), nullable=False),  # message.status: all | final
    C("format", String(16), nullable=False, server_default="standard"),  # standard, or a dialect's
    C("secret", Text, nullable=False),  # sealed
    C("enabled", Boolean, nullable=False),
    C("disabled_reason", String(300), nullable=True),
    C("failures", Integer, nullable=False),  # failed attempts in a row
    C("failing_since", UTCDateTime(), nullable=True),  # the first of them
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    C("deleted_at", UTCDateTime(), nullable=True),
)

# One event for one receiver: an endpoint, or the callback a request named (``url``). The row is the
# outbox job too: written in the transaction that changed the state, claimed by a worker, retried.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    C("event_id", String(40), nullable=False),  # the webhook-id header: the same on every try
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=True),
    C("url", Text, nullable=True),  # a request's own callback (no endpoint)
    C("secret", Text, nullable=True),  # its sealed secret; NULL sends it unsigned
    C("format", String(16), nullable=False),  # standard (dialects add theirs)
    C("event_type", String(40), nullable=False),
    C("subject_id", String(40), nullable=False),  # the message, verification or inbound message
    C("sequence", Integer, nullable=False),  # orders one subject's events
    C("payload", Text, nullable=False),  # the body, fixed when the event happened
    C("status", String(16), nullable=False),  # pending | delivered | failed
    C("attempts", Integer, nullable=False),
    C("run_at", UTCDateTime(), nullable=False),
    C("claimed_by", String(40), nullable=True),
    C("claimed_at", UTCDateTime(), nullable=True),
    C("last_error", String(500), nullable=True),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    Index(
        "ix_webhook_deliveries_due",
        "run_at",
        sqlite_where=text("claimed_by IS NULL AND status = 'pending'"),
        postgresql_where=text("claimed_by IS NULL AND status = 'pending'"),
    ),
    Index(None, "account_id", "id"),
    Index(None, "subject_id"),
    Index(None, "endpoint_id", "status"),
    _claims_index("webhook_deliveries"),
)

# Every try: when, what came back (status, the first KiB of the body) and how long it took.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("delivery_id", String(40), ForeignKey("webhook_deliveries.id"), nullable=False),
    C("at", UTCDateTime(), nullable=False),
    C("url", Text, nullable=False),
    C("status_code", Integer, nullable=True),  # NULL: no answer (refused, timed out, TLS failed...)
    C("latency_ms", Integer, nullable=False),
    C("error", String(500), nullable=True),
    C("response", Text, nullable=True),
    Index(None, "delivery_id", "id"),
)


# --- Who must not be sent to. -------------------------------------------------------------------

# Numbers an account must not send to: ``stop`` (the number opted out of the account's messages, by a
# STOP keyword or by hand; a send may skip this check) and ``block`` (never, whatever the request
# says). ``scope`` "*" is the operator's block-list for every account.
blocked_numbers = Table(
    "blocked_numbers",
    metadata,
    C("scope", String(40), primary_key=True),  # an account id, or "*" (operator, block only)
    C("number", String(20), primary_key=True),  # E.164
    C("kind", String(8), primary_key=True),  # stop | block
    C("source", String(16), nullable=False),  # keyword | api | cli
    C("note", String(300), nullable=True),
    _created(),
    Index(None, "number"),
)

# An account's own opt-out and opt-in words; NULL means the built-in ones (qasid.inbound.keywords).
inbound_keywords = Table(
    "inbound_keywords",
    metadata,
    C("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    C("stop_words", Text, nullable=True),  # comma separated
    C("start_words", Text, nullable=True),
    C("updated_at", UTCDateTime(), nullable=False),
)


# --- Contacts and lists (qasid.contacts). ----------------------------------------------------------

contact_lists = Table(
    "contact_lists",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("name", String(100), nullable=False),
    C("subscribe_word", String(30), nullable=True),  # folded: an inbound message with it joins the list
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "name"),
)

# One per number per account: imports and additions merge into it.
contacts = Table(
    "contacts",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("number", String(20), nullable=False),  # E.164
    C("name", String(200), nullable=True),
    C("fields", Text, nullable=True),  # JSON object of custom fields (strings)
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "number"),
    Index(None, "account_id", "id"),
)

list_members = Table(
    "list_members",
    metadata,
    C("list_id", String(40), ForeignKey("contact_lists.id"), primary_key=True),
    C("contact_id", String(40), ForeignKey("contacts.id"), primary_key=True),
    C("added_at", UTCDateTime(), nullable=False),
    Index(None, "contact_id"),
)

# An uploaded file being read into a list by a worker (the row is its job: claimed_by), in chunks
# stored with it so that any worker can read it, and its progress kept with each batch it writes.
contact_imports = Table(
    "contact_imports",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("list_id", String(40), ForeignKey("contact_lists.id"), nullable=False),
    C("format", String(8), nullable=False),  # csv | xlsx
    C("status", String(16), nullable=False),  # uploading | queued | running | done | failed
    C("size_bytes", BigInteger, nullable=False),
    C("bytes_read", BigInteger, nullable=False),  # of the file, as of the last batch written
    C("rows_read", Integer, nullable=False),  # data rows read so far (a restart resumes after them)
    C("rows_added", Integer, nullable=False),  # new contacts
    C("rows_merged", Integer, nullable=False),  # numbers already there (in the account or the file)
    C("rows_bad", Integer, nullable=False),
    C("error", String(500), nullable=True),  # why a failed import failed
    C("claimed_by", String(40), nullable=True),
    C("claimed_at", UTCDateTime(), nullable=True),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    C("finished_at", UTCDateTime(), nullable=True),
    Index(None, "account_id", "id"),
    Index(None, "status"),
)

import_chunks = Table(
    "import_chunks",
    metadata,
    C("import_id", String(40), ForeignKey("contact_imports.id"), primary_key=True),
    C("seq", Integer, primary_key=True),
    C("data", LargeBinary, nullable=False),
)

# Every row of an import that was not taken, with its line in the file and why.
import_errors = Table(
    "import_errors",
    metadata,
    C("id", AutoId, primary_key=True, autoincrement=True),
    C("import_id", String(40), ForeignKey("contact_imports.id"), nullable=False),
    C("line", Integer, nullable=False),
    C("reason", String(40), nullable=False),
    C("detail", String(300), nullable=True),
    Index(None, "import_id", "line"),
)


# An account's message texts with {{variables}} (qasid.domain.templates).
templates = Table(
    "templates",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("name", String(100), nullable=False),
    C("body", Text, nullable=False),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "name"),
)


# A send to lists and numbers, made into messages by the workers a chunk at a time (the row is its
# job: next_run_at, claimed_by), at a rate and outside quiet hours if asked.
campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    C("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    C("name", String(100), nullable=False),
    C("sender", String(20), nullable=False),
    C("body", Text, nullable=False),  # the text, or the template's at creation
    C("template_id", String(40), nullable=True),
    C("params", Text, nullable=True),  # JSON: what fills the template's variables besides the contact
    C("lists", Text, nullable=False),  # JSON list of list ids
    C("numbers", Text, nullable=False),  # JSON list of E.164 numbers
    C("stop_list", Boolean, nullable=False),
    C("status", String(16), nullable=False),  # scheduled | running | paused | canceled | done | failed
    C("start_at", UTCDateTime(), nullable=False),
    C("rate_per_minute", Integer, nullable=True),
    C("quiet_start", String(5), nullable=True),  # "21:00", in each recipient's own time zone
    C("quiet_end", String(5), nullable=True),
    C("recipients", Integer, nullable=False),  # counted when it was made
    C("estimated_cost", BigInteger, nullable=False),
    C("queued", Integer, nullable=False),  # messages made so far
    C("cost", BigInteger, nullable=False),  # what they reserved
    C("skipped_stopped", Integer, nullable=False),
    C("skipped_blocked", Integer, nullable=False),
    C("skipped_invalid", Integer, nullable=False),
    C("numbers_done", Boolean, nullable=False),
    C("cursor", String(40), nullable=False),  # the last contact made into a message ("" before the first)
    C("next_run_at", UTCDateTime(), nullable=False),
    C("claimed_by", String(40), nullable=True),
    C("claimed_at", UTCDateTime(), nullable=True),
    C("error", String(500), nullable=True),
    _created(),
    C("updated_at", UTCDateTime(), nullable=False),
    C("finished_at", UTCDateTime(), nullable=True),
    Index(None, "account_id", "id"),
    Index(None, "status", "next_run_at"),
)
