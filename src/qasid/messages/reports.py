"""Applying delivery reports: parts move forward, messages follow their parts, money follows the final
state, and every report is kept as it arrived.

A report names a part by its connector and the carrier's id for it. If that part is not recorded yet
(the carrier answered faster than the submit's own acknowledgement was written), the report is kept
unmatched and applied when the part is recorded (``apply_held``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from anyio import to_thread
from sqlalchemy import Connection

from qasid.billing.service import Refund, refund_many
from qasid.channels.base import DeliveryReport
from qasid.db import Database
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.domain.states import FINAL, MessageStatus, advance, aggregate, is_charged
from qasid.errors import QasidError
from qasid.messages.delivery_repository import DeliveryRepository, Pair, lock_parts
from qasid.messages.history import record_moves
from qasid.messages.repository import MessageRepository
from qasid.metrics import FINAL_STATES, count
from qasid.outbox.repository import JobRepository


@dataclass(frozen=True, slots=True)
class Ended:
    """A message that reached a final state, for the metrics (counted once committed)."""

    connector_id: str
    status: MessageStatus


@dataclass(slots=True)
class ApplyReports(WriteOp[list[Ended]]):
    """Reports go after the dispatch records of the same transaction (``phase``): a fast SMSC's
    receipt often reaches the writer before the dispatcher's record of the submit it answers, and
    applying it first would hold it unmatched for ``apply_held`` (two more lookups and a write).
    And they go before every other op.

    Their parts' locks (``lock_pairs``) must come before any account's row: the writer takes them
    before any op of the transaction applies (``locker``). A carrier's HTTP callback reaches the
    API's writer, whose transactions also carry sends and verifications that lock their accounts
    from their start; a worker's takes parts, then accounts (refunds, at the end). Reports after
    sends, as they once were, made an API transaction that held an account wait for a part that a
    worker held while it waited for the account: PostgreSQL's deadlock, found after
    ``deadlock_timeout`` (1 s), the batch tried again."""

    reports: Sequence[DeliveryReport]

    kind = "reports"
    phase = -2
    locker = lock_parts

    @classmethod
    def lock_keys(cls, ops: Sequence[Self]) -> Iterable[Pair]:
        return [(report.connector_id, report.carrier_id) for op in ops for report in op.reports]

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.reports)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[list[Ended] | QasidError]:
        reports = [report for op in ops for report in op.reports]
        now = max(report.received_at for report in reports)
        matched, finals = apply_to_parts(conn, reports, now)
        DeliveryRepository(conn).insert_reports(
            [
                (r.connector_id, r.carrier_id, r.status.value, r.error_code, r.raw, r.received_at,
                 matched.get((r.connector_id, r.carrier_id)))
                for r in reports
            ]
        )  # fmt: skip
        return [_ended(op.reports, matched, finals) for op in ops]


def _ended(
    reports: Sequence[DeliveryReport], matched: dict[Pair, str], finals: dict[str, MessageStatus]
) -> list[Ended]:
    ended, seen = [], set()
    for report in reports:
        message_id = matched.get((report.connector_id, report.carrier_id))
        if message_id in finals and message_id not in seen:
            seen.add(message_id)
            ended.append(Ended(report.connector_id, finals[message_id]))
    return ended


def apply_held(conn: Connection, pairs: Sequence[Pair], now: datetime) -> dict[str, MessageStatus]:
    """Apply reports that arrived for these parts before the parts were recorded; returns the
    messages that became final. The parts must be locked (``lock_parts``: ``RecordDispatch``'s
    writer took them)."""
    repo = DeliveryRepository(conn)
    held = repo.unmatched(pairs)
    if not held:
        return {}
    reports = [
        DeliveryReport(connector, carrier_id, MessageStatus(status), error, raw, received_at)
        for _, connector, carrier_id, status, error, raw, received_at in held
    ]
    matched, finals = apply_to_parts(conn, reports, now)
    repo.mark_matched([(row[0], matched[(row[1], row[2])]) for row in held if (row[1], row[2]) in matched])
    return finals


def apply_to_parts(
    conn: Connection, reports: Sequence[DeliveryReport], now: datetime
) -> tuple[dict[Pair, str], dict[str, MessageStatus]]:
    """Move the reported parts and their messages forward. Returns the message id of each matched
    part, and the messages that became final. The parts must be locked (``lock_parts``)."""
    delivery = DeliveryRepository(conn)
    pairs = list({(r.connector_id, r.carrier_id) for r in reports})
    parts = delivery.parts_by_carrier(pairs)
    current = {(message_id, part): status for message_id, part, status in parts.values()}
    changed: dict[tuple[str, int], tuple[MessageStatus, str | None, str]] = {}
    for report in reports:
        found = parts.get((report.connector_id, report.carrier_id))
        if found is None:
            continue
        key = (found[0], found[1])
        moved = advance(current[key], report.status)
        if moved is not None:
            current[key] = moved
            changed[key] = (moved, report.error_code, report.raw)
    delivery.update_parts([(m, p, s.value, error, now) for (m, p), (s, error, _) in changed.items()])
    raw_by_message = {message_id: raw for (message_id, _), (_, _, raw) in changed.items()}
    errors = {message_id: error for (message_id, _), (_, error, _) in changed.items() if error}
    finals = _follow_parts(conn, raw_by_message, errors, now)
    return {pair: found[0] for pair, found in parts.items()}, finals


def _follow_parts(
    conn: Connection, raw_by_message: dict[str, str], errors: dict[str, str], now: datetime
) -> dict[str, MessageStatus]:
    """Move each message to the aggregate of its parts (with the carrier's error code when it did
    not end delivered); settle those that became final."""
    if not raw_by_message:
        return {}
    messages = MessageRepository(conn)
    states = DeliveryRepository(conn).part_states(list(raw_by_message))
    targets = []
    for message_id, parts in states.items():
        status = aggregate(parts)
        targets.append(
            (message_id, status, None if status == MessageStatus.DELIVERED else errors.get(message_id))
        )
    moved = set(messages.advance(targets, now))
    reached = {message_id: status for message_id, status, _ in targets if message_id in moved}
    record_moves(conn, [(m, status, raw_by_message[m]) for m, status in reached.items()], now)
    finals = {m: s for m, s in reached.items() if s in FINAL}
    settle(conn, finals, now, was_sent=True)
    return finals


def settle(conn: Connection, finals: dict[str, MessageStatus], now: datetime, *, was_sent: bool) -> None:
    """The money and the outbox for messages that just became final: refunds for what is not
    charged, and no more jobs for them."""
    if not finals:
        return
    refunded = [m for m, status in finals.items() if not is_charged(status, was_sent=was_sent)]
    if refunded:  # most messages end charged (delivered): then there is nothing to look up
        rows = MessageRepository(conn).settlement_rows(refunded)
        reason = {m: f"ended {finals[m].value}" for m in refunded}
        refunds = [Refund(r["account_id"], r["id"], r["batch_id"], r["price"], reason[r["id"]]) for r in rows]
        refund_many(conn, refunds, now)
    jobs = JobRepository(conn)
    jobs.delete_for_messages(list(finals))
    # A verification's code that did not arrive needs the next channel now, not at its timeout. (One
    # that arrived keeps its fallback job, which finds the message delivered and ends.)
    jobs.expedite_fallbacks([m for m, status in finals.items() if status != MessageStatus.DELIVERED], now)


class DatabaseOpenParts:
    """What connectors that ask after their messages ask after, read from the message parts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def awaiting(self, connector_id: str, limit: int) -> Sequence[str]:
        def read() -> list[str]:
            with self.db.read() as conn:
                return DeliveryRepository(conn).awaiting(connector_id, limit)

        return await to_thread.run_sync(read)


class WriterReportSink:
    """Where connectors hand their reports: applied through the group commit, counted once written."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer
        self.name_of: Callable[[str], str] = str

    async def deliver(self, reports: Sequence[DeliveryReport]) -> None:
        if not reports:
            return
        for ended in await self.writer.submit(ApplyReports(reports)):
            count(FINAL_STATES, self.name_of(ended.connector_id), ended.status.value)
