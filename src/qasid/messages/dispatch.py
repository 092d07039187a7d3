"""Dispatching: claimed jobs become submits to connectors, and their outcomes become state.

A worker's ``Dispatcher`` keeps up to ``max_in_flight`` messages moving. It claims due jobs in
batches (``ClaimDispatch``: the jobs are claimed and their messages marked ``queued`` in one
statement each, so a claimed message can no longer be canceled), hands each message to the first
connector its routes name and, when that one fails transiently, to the next. Each outcome is
written through the group commit (``RecordDispatch``), which applies many in a few statements:

- ``Sent``: the message is ``sent``, its parts and the carrier's ids recorded, and its job becomes an
  expiry job due when its validity (plus ``report_grace_seconds``) runs out; reports that arrived
  before this was written are applied now.
- ``Retry``: every route failed transiently (or there is none): the job goes back with backoff and
  jitter, never later than the message's expiry.
- ``Ended``: the message failed permanently (with the carrier's code) or expired before it was
  sent, and is refunded; or, for an expiry job, it was sent and never reported (charged).
- ``Dropped``: nothing to do (canceled, or already final).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Self

import structlog
from sqlalchemy import Connection

from qasid.channels.base import Connector, OneTimeCode, Outbound, PermanentError, TransientError
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.domain.encoding import split
from qasid.domain.phone import mask
from qasid.domain.states import NOT_YET_SENT, MessageStatus
from qasid.errors import QasidError
from qasid.messages.delivery_repository import DeliveryRepository, Pair, lock_parts
from qasid.messages.history import record_moves
from qasid.messages.reports import apply_held, settle
from qasid.messages.repository import MessageRepository
from qasid.metrics import DISPATCH_LATENCY, DISPATCHED, FINAL_STATES, RETRIED, count
from qasid.otp.codes import PLACEHOLDER, CodeBook
from qasid.otp.fallback import FallbackPolicy, fall_back
from qasid.outbox.records import Job, JobKind, RetryPolicy
from qasid.outbox.repository import JobRepository

log = structlog.get_logger(__name__)
WRITE_RETRY_CAP = 1.0  # seconds between attempts to reach the database


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed job and what dispatching its message needs."""

    job: Job
    message: Mapping[str, Any] | None  # None when the message is gone


@dataclass(slots=True)
class ClaimDispatch(WriteOp[list[Claimed]]):
    worker_id: str
    limit: int
    now: datetime

    kind = "claim"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[list[Claimed] | QasidError]:
        return [_claim(conn, op) for op in ops]


def _claim(conn: Connection, op: ClaimDispatch) -> list[Claimed]:
    claimed = JobRepository(conn).claim(op.worker_id, op.now, op.limit)
    messages = MessageRepository(conn)
    to_queue = [job.message_id for job in claimed if job.kind == JobKind.DISPATCH and job.message_id]
    messages.advance([(message_id, MessageStatus.QUEUED, None) for message_id in to_queue], op.now)
    wanted = [job.message_id for job in claimed if job.message_id]
    rows = {row["id"]: row for row in messages.for_dispatch(wanted)}
    return [Claimed(job, rows.get(job.message_id) if job.message_id else None) for job in claimed]


@dataclass(frozen=True, slots=True)
class Sent:
    job_id: int
    message_id: str
    connector_id: str
    connector: str
    carrier_ids: tuple[str, ...]
    expire_at: datetime


@dataclass(frozen=True, slots=True)
class Retry:
    job_id: int
    attempts: int
    run_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class Ended:
    job_id: int
    message_id: str
    status: MessageStatus
    code: str | None
    detail: str
    was_sent: bool
    connector: str = "-"


@dataclass(frozen=True, slots=True)
class Dropped:
    job_id: int


@dataclass(frozen=True, slots=True)
class Fallback:
    """A verification's code was not delivered on this message's channel: try the next one."""

    job_id: int
    message_id: str
    policy: FallbackPolicy


Outcome = Sent | Retry | Ended | Dropped | Fallback


@dataclass(slots=True)
class RecordDispatch(WriteOp[None]):
    """What came of submits. First in its transaction (``phase``), before the reports that may
    answer them (``ApplyReports``). The parts of its submits are locked by the writer before any
    op of the transaction applies (``locker``), with the reports' parts, in one statement: so
    transactions take parts before accounts (a fallback's send, sends and verifications from the
    API, refunds at the end) and do not deadlock over a part and an account, nor over two parts
    (this record's and a report's) taken in two orders."""

    outcome: Outcome
    now: datetime

    kind = "dispatch"
    phase = -3
    locker = lock_parts

    @classmethod
    def lock_keys(cls, ops: Sequence[Self]) -> Iterable[Pair]:
        return [
            (op.outcome.connector_id, carrier_id)
            for op in ops
            if isinstance(op.outcome, Sent)
            for carrier_id in op.outcome.carrier_ids
        ]

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        now = max(op.now for op in ops)
        outcomes = [op.outcome for op in ops]
        _record_sent(conn, [o for o in outcomes if isinstance(o, Sent)], now)
        _record_ended(conn, [o for o in outcomes if isinstance(o, Ended)], now)
        retries = [o for o in outcomes if isinstance(o, Retry)]
        JobRepository(conn).release([(o.job_id, o.run_at, o.attempts, o.error) for o in retries])
        JobRepository(conn).delete([o.job_id for o in outcomes if isinstance(o, Dropped | Fallback)])
        for fallback in (o for o in outcomes if isinstance(o, Fallback)):
            fall_back(conn, fallback.message_id, now, fallback.policy)
        return [None] * len(ops)


def _record_sent(conn: Connection, sent: list[Sent], now: datetime) -> None:
    if not sent:
        return
    messages = MessageRepository(conn)
    moved = set(messages.advance([(o.message_id, MessageStatus.SENT, None) for o in sent], now))
    # A message already past "sent" was sent twice (a crash lost the first record): its first parts
    # stand, and reports for the second copy's ids stay unmatched.
    DeliveryRepository(conn).insert_parts(
        [
            (o.message_id, part, o.connector_id, carrier_id, MessageStatus.SENT.value, None, now)
            for o in sent
            if o.message_id in moved
            for part, carrier_id in enumerate(o.carrier_ids, start=1)
        ]
    )
    record_moves(
        conn,
        [(o.message_id, MessageStatus.SENT, f"via {o.connector}") for o in sent if o.message_id in moved],
        now,
    )
    jobs = JobRepository(conn)
    jobs.become([(o.job_id, JobKind.EXPIRE.value, o.expire_at) for o in sent if o.message_id in moved])
    jobs.delete([o.job_id for o in sent if o.message_id not in moved])
    apply_held(conn, [(o.connector_id, carrier_id) for o in sent for carrier_id in o.carrier_ids], now)


def _record_ended(conn: Connection, ended: list[Ended], now: datetime) -> None:
    if not ended:
        return
    messages = MessageRepository(conn)
    moved = set(messages.advance([(o.message_id, o.status, o.code) for o in ended], now))
    record_moves(conn, [(o.message_id, o.status, o.detail) for o in ended if o.message_id in moved], now)
    for was_sent in (False, True):
        finals = {o.message_id: o.status for o in ended if o.message_id in moved and o.was_sent == was_sent}
        settle(conn, finals, now, was_sent=was_sent)
    JobRepository(conn).delete([o.job_id for o in ended])


class Dispatcher:
    """Claims due jobs and keeps up to ``max_in_flight`` messages moving (one per task)."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        worker_id: str,
        route: Callable[[Mapping[str, Any]], list[Connector]],
        *,
        batch: int = 256,
        max_in_flight: int = 2048,
        idle_poll_seconds: float = 0.25,
        report_grace: timedelta = timedelta(minutes=10),
        retry: RetryPolicy | None = None,
        codes: CodeBook | None = None,
        fallback: FallbackPolicy | None = None,
    ) -> None:
        self.fallback = fallback
        self.writer = writer
        self.codes = codes  # opens verification codes (qasid.otp.codes)
        self.worker_id = worker_id
        self.route = route
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.idle_poll_seconds = idle_poll_seconds
        self.report_grace = report_grace
        self.retry = retry or RetryPolicy()
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New work may be due (a message was just accepted in this process)."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            room = self.max_in_flight - len(self.in_flight)
            if room < min(self.batch, self.max_in_flight) // 2:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                claimed = await self.writer.submit(
                    ClaimDispatch(self.worker_id, min(self.batch, room), datetime.now(UTC))
                )
            except QasidError as exc:  # the database is away: try again after a pause
                log.warning("claiming jobs failed", error=exc.detail)
                await asyncio.sleep(WRITE_RETRY_CAP)
                continue
            for item in claimed:
                task = asyncio.create_task(self._run_one(item))
                self.in_flight[item.job.id] = task
                task.add_done_callback(partial(self._done, item.job.id))
            if len(claimed) < min(self.batch, room):
                await self._idle()

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop claiming and let what is in flight finish (for up to ``grace_seconds``)."""
        self._stopping = True
        self._wake.set()
        self._room.set()
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), timeout=grace_seconds)

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)

    def _done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self.in_flight.pop(job_id, None)
        self._room.set()

    async def _run_one(self, item: Claimed) -> None:
        try:
            outcome = await self.decide(item)
        except Exception as exc:
            log.exception("dispatch failed unexpectedly", job=item.job.id)
            outcome = self._retry(item, f"internal error: {exc!r}", datetime.now(UTC))
        if await self._record(outcome):
            self._count(item, outcome)

    async def _record(self, outcome: Outcome) -> bool:
        """Write the outcome, waiting out a database outage: what a carrier took is never forgotten
        while this process lives. If it dies first, the job is recovered and sent again."""
        delay = 0.05
        while True:
            try:
                await self.writer.submit(RecordDispatch(outcome, datetime.now(UTC)))
            except QasidError as exc:
                if self._stopping:
                    log.error("dispatch outcome not written; the job will be recovered", error=exc.detail)
                    return False
                log.warning("writing a dispatch outcome failed; retrying", error=exc.detail)
                await asyncio.sleep(delay)
                delay = min(delay * 2, WRITE_RETRY_CAP)
                continue
            return True

    async def decide(self, item: Claimed) -> Outcome:
        message, job, now = item.message, item.job, datetime.now(UTC)
        if message is None:
            return Dropped(job.id)
        status = MessageStatus(message["status"])
        if job.kind != JobKind.DISPATCH:
            return self._follow_up(job, message, status)
        if status not in NOT_YET_SENT:
            return Dropped(job.id)
        if now >= message["expires_at"]:
            detail = "the validity ran out before it could be sent"
            return Ended(job.id, message["id"], MessageStatus.EXPIRED, "EXPIRED", detail, was_sent=False)
        if message["verification_id"] is not None and message["code_status"] != "pending":
            detail = f"its verification is {message['code_status']}: the code is no use now"
            return Ended(
                job.id, message["id"], MessageStatus.FAILED, "VERIFICATION_CLOSED", detail, was_sent=False
            )
        return await self._submit(item, now)

    def _follow_up(self, job: Job, message: Mapping[str, Any], status: MessageStatus) -> Outcome:
        """An expiry job (a sent message never reported on) or a verification's fallback job."""
        if job.kind == JobKind.FALLBACK and status != MessageStatus.DELIVERED and self.fallback is not None:
            return Fallback(job.id, message["id"], self.fallback)
        if job.kind == JobKind.EXPIRE and status == MessageStatus.SENT:
            detail = "no delivery report before the validity ran out"
            return Ended(job.id, message["id"], MessageStatus.EXPIRED, None, detail, was_sent=True)
        return Dropped(job.id)

    async def _submit(self, item: Claimed, now: datetime) -> Outcome:
        message = item.message
        assert message is not None  # noqa: S101 - checked by decide()
        connectors = self.route(message)
        if not connectors:
            where = f"{message['country']}/{message['operator']} {message['channel']}"
            return self._retry(item, f"no route for {where}", now)
        outbound = _outbound(message, self.codes)
        errors = []
        for connector in connectors:
            try:
                submitted = await connector.submit(outbound)
            except TransientError as exc:
                errors.append(f"{connector.name}: {exc}")
                count(RETRIED, connector.name)
                continue
            except PermanentError as exc:
                detail = f"{connector.name}: {exc.detail}"
                return Ended(
                    item.job.id, message["id"], MessageStatus.FAILED, exc.code, detail, False, connector.name
                )
            due = max(item.job.run_at, message["created_at"])
            DISPATCH_LATENCY.observe(max(0.0, (datetime.now(UTC) - due).total_seconds()))
            expire_at = message["expires_at"] + self.report_grace
            return Sent(
                item.job.id, message["id"], connector.id, connector.name, submitted.carrier_ids, expire_at
            )
        return self._retry(item, "; ".join(errors), now)

    def _retry(self, item: Claimed, error: str, now: datetime) -> Retry:
        run_at = now + self.retry.delay(item.job.attempts)
        if item.message is not None:
            run_at = min(run_at, item.message["expires_at"])
        return Retry(item.job.id, item.job.attempts + 1, run_at, error)

    def _count(self, item: Claimed, outcome: Outcome) -> None:
        message = item.message
        if isinstance(outcome, Sent):
            count(DISPATCHED, outcome.connector)
        elif isinstance(outcome, Ended):
            count(FINAL_STATES, outcome.connector, outcome.status.value)
        if message is not None and isinstance(outcome, Retry | Ended):
            log.info(
                "dispatch " + type(outcome).__name__.lower(),
                message=message["id"],
                to=mask(message["recipient"]),
                request_id=message["request_id"],
                detail=getattr(outcome, "error", None) or getattr(outcome, "detail", None),
            )


def _outbound(message: Mapping[str, Any], codes: CodeBook | None) -> Outbound:
    text, code = message["body"], None
    if message["verification_id"] is not None:  # the code goes in only now, on its way out
        if codes is None or message["code_seal"] is None:
            raise RuntimeError("a verification message needs the code book and its sealed code")
        opened = codes.open(message["verification_id"], message["code_seal"])
        text = text.replace(PLACEHOLDER, opened)
        code = OneTimeCode(opened, message["code_locale"], message["code_brand"], message["code_expires_at"])
    return Outbound(
        message_id=message["id"],
        account_id=message["account_id"],
        recipient=message["recipient"],
        sender=message["sender"],
        text=text,
        encoding=message["encoding"],
        parts=tuple(split(text)),
        expires_at=message["expires_at"],
        code=code,
    )
