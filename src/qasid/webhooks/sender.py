"""Sending webhook deliveries: claim due ones, call the receivers, record every try.

A worker's ``WebhookSender`` claims due deliveries in batches (``ClaimDeliveries``), calls each
receiver with a task of its own (up to ``webhook_max_in_flight`` at once, and at most
``webhook_endpoint_max_in_flight`` per endpoint, so one slow receiver cannot hold up the others'),
and writes each try through the group commit (``RecordTries``), many per transaction:

- a 2xx within the timeout: delivered;
- no answer, a timeout, a TLS failure or any other status: tried again with exponential backoff
  and jitter until ``webhook_retry_for_seconds`` after the event, then failed;
- an address webhooks may not reach (``qasid.webhooks.guard``): failed at once;
- 410 Gone from an endpoint: the receiver says it is gone, so the endpoint is disabled and its
  deliveries wait (enabling it again sends them).

Every try is kept (time, URL, status, latency, the first KiB of the answer, the error). An endpoint
whose tries fail ``webhook_disable_after_failures`` times in a row, for at least
``webhook_disable_after_seconds``, is disabled, and a ``webhook.disabled`` event tells the account's
other endpoints. Delivery is at least once: a worker that dies mid-call leaves its claims to be taken
back, and the receiver may see that delivery again, always with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Self

import aiohttp
import structlog
from sqlalchemy import Connection
from standardwebhooks import Webhook

import qasid
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.errors import QasidError
from qasid.metrics import WEBHOOK_TRIES, count
from qasid.outbox.records import RetryPolicy
from qasid.settings import Settings
from qasid.vault import Vault
from qasid.webhooks.events import Event, Handoff, publish
from qasid.webhooks.formats import FORMATS, Call, Outgoing
from qasid.webhooks.guard import AddressNotAllowed, AddressPolicy, GuardedResolver, guarded_socket
from qasid.webhooks.records import DeliveryStatus, EventType, Format, RetrySchedule
from qasid.webhooks.repository import DeliveryRepository, EndpointRepository

log = structlog.get_logger(__name__)
RESPONSE_KEPT = 1024  # bytes of each answer kept with its try
LOOKAHEAD = 4  # deliveries claimed per receiver, in calls it may have going at once
WRITE_RETRY_CAP = 1.0
USER_AGENT = f"Qasid-Webhooks/{qasid.__version__}"


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery and where it goes."""

    id: str
    event_id: str
    endpoint_id: str | None
    url: str
    secret: str | None  # sealed
    format: str
    payload: str
    attempts: int
    created_at: datetime
    subject_id: str
    sequence: int

    @property
    def receiver(self) -> str:
        return self.endpoint_id or self.url


@dataclass(slots=True)
class ClaimDeliveries(WriteOp[list[Due]]):
    worker_id: str
    limit: int
    now: datetime
    busy: tuple[str, ...] = ()

    kind = "webhook-claim"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[list[Due] | QasidError]:
        return [_claim(conn, op) for op in ops]


def _claim(conn: Connection, op: ClaimDeliveries) -> list[Due]:
    rows = DeliveryRepository(conn).claim(op.worker_id, op.now, op.limit, op.busy)
    targets = EndpointRepository(conn).targets(list({r["endpoint_id"] for r in rows if r["endpoint_id"]}))
    due = []
    for row in rows:
        url, secret = targets[row["endpoint_id"]] if row["endpoint_id"] else (row["url"], row["secret"])
        due.append(
            Due(row["id"], row["event_id"], row["endpoint_id"], url, secret, row["format"], row["payload"],
                row["attempts"], row["created_at"], row["subject_id"], row["sequence"])
        )  # fmt: skip
    return due


class Verdict(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # try again later
    REFUSED = "refused"  # the address is not allowed: no point trying again
    GONE = "gone"  # 410: the receiver is gone


@dataclass(frozen=True, slots=True)
class Tried:
    """One try of a delivery and what came of it."""

    delivery: Due
    at: datetime
    verdict: Verdict
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response: str | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """What decides a delivery's and an endpoint's fate after a try."""

    schedule: RetrySchedule
    disable_after_failures: int
    disable_after: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        policy = RetryPolicy(settings.webhook_retry_base_seconds, settings.webhook_retry_cap_seconds)
        return cls(
            RetrySchedule(policy, timedelta(seconds=settings.webhook_retry_for_seconds)),
            settings.webhook_disable_after_failures,
            timedelta(seconds=settings.webhook_disable_after_seconds),
        )


@dataclass(slots=True)
class RecordTries(WriteOp[None]):
    tries: Sequence[Tried]
    rules: Rules
    now: datetime

    kind = "webhook-tries"

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.tries)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        record_tries(conn, [t for op in ops for t in op.tries], ops[0].rules, max(op.now for op in ops))
        return [None] * len(ops)


def record_tries(conn: Connection, tries: Sequence[Tried], rules: Rules, now: datetime) -> None:
    deliveries = DeliveryRepository(conn)
    deliveries.insert_attempts(
        [
            (t.delivery.id, t.at, t.delivery.url, t.status_code, t.latency_ms, t.error, t.response)
            for t in tries
        ]
    )
    deliveries.finish([_after(t, rules.schedule) for t in tries])
    gone = _endpoint_health(conn, [t for t in tries if t.delivery.endpoint_id], rules, now)
    for endpoint_id in gone:  # deleted while these tries were out: nothing will send them now
        deliveries.abandon(endpoint_id, "the endpoint was deleted", now)


def _after(tried: Tried, schedule: RetrySchedule) -> tuple[Any, ...]:
    """The delivery's row after ``tried``: (id, status, attempts, run_at, last_error, updated_at,
    claimed_by, claimed_at)."""
    d, attempts = tried.delivery, tried.delivery.attempts + 1
    error = tried.error or (f"answered {tried.status_code}" if tried.status_code else None)
    status, run_at = DeliveryStatus.PENDING, tried.at
    if tried.verdict == Verdict.DELIVERED:
        status, error = DeliveryStatus.DELIVERED, None
    elif tried.verdict == Verdict.REFUSED or (tried.verdict == Verdict.GONE and d.endpoint_id is None):
        status = DeliveryStatus.FAILED
    elif tried.verdict == Verdict.FAILED:
        next_try = schedule.next_try(attempts, d.created_at, tried.at)
        if next_try is None:
            status, error = DeliveryStatus.FAILED, f"gave up after {attempts} tries: {error}"
        else:
            run_at = next_try
    # GONE from an endpoint: pending, held while the endpoint is disabled; enabling it resumes it.
    return (d.id, status.value, attempts, run_at, (error or "")[:500] or None, tried.at, None, None)


def _endpoint_health(conn: Connection, tries: Sequence[Tried], rules: Rules, now: datetime) -> set[str]:
    """Count each endpoint's failures in a row; disable the ones that are gone or failing too long.
    Returns the endpoints that were deleted meanwhile."""
    if not tries:
        return set()
    endpoints = EndpointRepository(conn)
    involved = {t.delivery.endpoint_id for t in tries if t.delivery.endpoint_id is not None}
    found = endpoints.health(list(involved))
    deleted = {row["id"] for row in found if row["deleted_at"] is not None}
    health = {row["id"]: row for row in found if row["enabled"] and row["deleted_at"] is None}
    changed: list[tuple[str, int, datetime | None, datetime]] = []
    disabled: dict[str, str] = {}
    for endpoint_id, row in health.items():
        failures, since = row["failures"], row["failing_since"]
        for tried in sorted((t for t in tries if t.delivery.endpoint_id == endpoint_id), key=lambda t: t.at):
            if tried.verdict == Verdict.DELIVERED:
                failures, since = 0, None
                continue
            failures, since = failures + 1, since or tried.at
            if tried.verdict == Verdict.GONE:
                disabled[endpoint_id] = f"the receiver answered 410 Gone at {tried.at.isoformat()}"
        lasting = since is not None and now - since >= rules.disable_after
        if endpoint_id not in disabled and failures >= rules.disable_after_failures and lasting:
            disabled[endpoint_id] = f"{failures} failed tries in a row since {since}"
        if (failures, since) != (row["failures"], row["failing_since"]):  # a healthy one stays as it is
            changed.append((endpoint_id, failures, since, now))
    endpoints.set_health(changed)
    for endpoint_id, reason in disabled.items():
        endpoints.change(endpoint_id, now, enabled=False, disabled_reason=reason)
        log.warning("webhook endpoint disabled", endpoint=endpoint_id, reason=reason)
    publish(
        conn,
        [
            Event(EventType.WEBHOOK_DISABLED, health[e]["account_id"], e, 1,
                  {"id": e, "url": health[e]["url"], "reason": reason})
            for e, reason in disabled.items()
        ],
        now,
    )  # fmt: skip
    return deleted


def make_session(settings: Settings) -> aiohttp.ClientSession:
    """The one HTTP client a worker's webhooks use (aiohttp: its connection pool costs a small,
    steady amount per call where httpx's grew with the connections held; docs/performance.md):
    guarded addresses, TLS verified (with the operator's extra authorities), at most three
    redirects (each hop checked), and a total timeout: the one bound on a call, from waiting for a
    connection to the last byte of the answer read (aiohttp's ``total``)."""
    context = ssl.create_default_context()
    if settings.webhook_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.webhook_ca_file))
    policy = AddressPolicy.of(settings.webhook_allowed_networks)
    connector = aiohttp.TCPConnector(
        limit=settings.webhook_max_in_flight,
        limit_per_host=settings.webhook_endpoint_max_in_flight,
        ssl=context,
        resolver=GuardedResolver(policy),
        socket_factory=guarded_socket(policy),
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds),
        headers={"user-agent": USER_AGENT},
        max_line_size=8190,
        trust_env=False,
        auto_decompress=False,
    )


@dataclass(slots=True)
class _Signers:
    """Standard Webhooks signers by sealed secret (opening and decoding a secret once)."""

    vault: Vault
    cache: dict[str, Webhook] = field(default_factory=dict)

    def sign(self, sealed: str, event_id: str, at: datetime, body: bytes) -> str:
        signer = self.cache.get(sealed)
        if signer is None:
            if len(self.cache) > 4096:
                self.cache.clear()
            signer = self.cache[sealed] = Webhook(self.vault.open(sealed))
        return signer.sign(event_id, at, body)


class WebhookSender:
    """Claims due deliveries and keeps up to ``max_in_flight`` calls going (one task each)."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        worker_id: str,
        settings: Settings,
        vault: Vault,
        session_factory: Callable[[Settings], aiohttp.ClientSession] = make_session,
    ) -> None:
        self.writer = writer
        self.worker_id = worker_id
        self.settings = settings
        self.rules = Rules.of(settings)
        self.signers = _Signers(vault)
        self.session = session_factory(settings)
        self.timeout = settings.webhook_timeout_seconds
        self.batch = settings.webhook_batch
        self.max_in_flight = settings.webhook_max_in_flight
        self.per_endpoint = settings.webhook_endpoint_max_in_flight
        self.idle_poll = settings.dispatch_idle_poll_seconds
        self.lookahead = LOOKAHEAD * self.per_endpoint  # claimed and not yet recorded, per receiver
        self.in_flight: set[asyncio.Task[None]] = set()
        self.held: Counter[str] = Counter()  # deliveries claimed and not yet recorded, by receiver
        self.holding = 0  # their sum (read from the writers' threads: ``room``)
        self.calls: dict[str, asyncio.Semaphore] = {}  # at most per_endpoint calls at once, by receiver
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def room(self, receiver: str | None) -> int:
        """How many more deliveries this sender takes as they are written (``events.Claimant``): in
        all, or for ``receiver``, as many as a claim would let it hold. Asked from a writer's thread,
        so it only reads two numbers the loop keeps; a few transactions in a row may each hand over
        that many before the loop has counted them in."""
        if self._stopping:
            return 0
        if receiver is None:
            return self.max_in_flight - self.holding
        return self.lookahead - self.held.get(receiver, 0)

    def handed(self, handoff: Handoff) -> None:
        """Deliveries a committed transaction wrote claimed by this sender: sent at once."""
        if self._stopping:  # their claims are given back when the worker stops
            return
        for group in in_order([Due(*item) for item in handoff.items]):
            self._start(group)

    async def run(self) -> None:
        while not self._stopping:
            room = self.max_in_flight - self.holding
            if room < min(self.batch, self.max_in_flight) // 2:  # claim in batches, not one by one
                self._room.clear()
                await self._room.wait()
                continue
            busy = tuple(e for e, n in self.held.items() if n >= self.lookahead // 2)
            wanted = min(self.batch, room)
            try:
                claimed = await self.writer.submit(
                    ClaimDeliveries(self.worker_id, wanted, datetime.now(UTC), busy)
                )
            except QasidError as exc:
                log.warning("claiming webhook deliveries failed", error=exc.detail)
                await asyncio.sleep(WRITE_RETRY_CAP)
                continue
            for group in in_order(claimed):
                self._start(group)
            if len(claimed) < wanted:
                await self._idle()

    async def stop(self, grace_seconds: float = 15.0) -> None:
        self._stopping = True
        self._wake.set()
        self._room.set()
        if self.in_flight:
            await asyncio.wait(list(self.in_flight), timeout=grace_seconds)
        await self.session.close()

    def _start(self, group: list[Due]) -> None:
        """A task per group: a subject's events to one receiver go one after the other."""
        key = group[0].receiver
        self.held[key] += len(group)
        self.holding += len(group)
        if key not in self.calls:
            self.calls[key] = asyncio.Semaphore(self.per_endpoint)
        task = asyncio.create_task(self._deliver(key, group))
        self.in_flight.add(task)
        task.add_done_callback(partial(self._done, key, len(group)))

    def _done(self, key: str, size: int, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        before = self.held[key]
        self.held[key] -= size
        self.holding -= size
        if self.held[key] <= 0:
            del self.held[key]
            del self.calls[key]
        self._room.set()
        if before >= self.lookahead // 2 > before - size:
            self._wake.set()  # the receiver is no longer busy: claim for it again

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.idle_poll)

    async def _deliver(self, key: str, group: list[Due]) -> None:
        """Each call holds one of the receiver's places only while it is out; writing down what
        came of it runs beside the next call."""
        records = []
        for due in group:
            async with self.calls[key]:
                tried = await self.attempt(due)
            count(WEBHOOK_TRIES, tried.verdict.value)
            records.append(asyncio.create_task(self._record(tried)))
        await asyncio.gather(*records)

    async def _record(self, tried: Tried) -> None:
        delay = 0.05
        while True:  # what the receiver got is written down, even across a database outage
            try:
                await self.writer.submit(RecordTries([tried], self.rules, datetime.now(UTC)))
                return
            except QasidError as exc:
                if self._stopping:
                    log.error("webhook try not recorded; the delivery will be taken back", error=exc.detail)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, WRITE_RETRY_CAP)

    async def attempt(self, due: Due) -> Tried:
        """One try: the delivery rendered in its format (signed when it has a secret), sent, and
        what came back."""
        at = datetime.now(UTC)
        render = FORMATS.get(due.format)
        if render is None:
            return Tried(due, at, Verdict.REFUSED, 0, error=f"no format {due.format!r} in this gateway")
        signature = key = None
        if due.secret is not None and due.format == Format.STANDARD:
            signature = self.signers.sign(due.secret, due.event_id, at, due.payload.encode())
        elif due.secret is not None:
            key = self.signers.vault.open(due.secret)
        request = render(Call(due.url, due.event_id, due.payload, at, signature, key))
        started = time.monotonic()
        try:  # the session's total timeout bounds the whole call, the answer's body read included
            status, answer = await self._send(request)
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as exc:
            latency = _ms(started)
            if isinstance(refused := exc.__cause__, AddressNotAllowed):
                return Tried(due, at, Verdict.REFUSED, latency, error=str(refused))
            return Tried(due, at, Verdict.FAILED, latency, error=_describe(exc, self.timeout))
        latency = _ms(started)
        if 200 <= status < 300:
            verdict = Verdict.DELIVERED
        elif status == 410 and due.endpoint_id is not None:
            verdict = Verdict.GONE
        else:
            verdict = Verdict.FAILED
        return Tried(due, at, verdict, latency, status_code=status, response=answer)

    async def _send(self, request: Outgoing) -> tuple[int, str]:
        async with self.session.request(
            request.method, request.url, headers=request.headers, data=request.body, max_redirects=3
        ) as response:
            kept = b""
            while len(kept) < RESPONSE_KEPT and (
                chunk := await response.content.read(RESPONSE_KEPT - len(kept))
            ):
                kept += chunk
            return response.status, _storable(kept.decode("utf-8", "replace"))


def in_order(claimed: Sequence[Due]) -> list[list[Due]]:
    """Claimed deliveries grouped by receiver and subject, each group in sequence order: calls for
    different subjects go at once, one subject's events to one receiver go in order (a later
    event still goes if an earlier one failed; ``sequence`` lets the receiver sort out the rest)."""
    groups: dict[tuple[str, str], list[Due]] = {}
    for due in claimed:
        groups.setdefault((due.receiver, due.subject_id), []).append(due)
    return [sorted(group, key=lambda due: due.sequence) for group in groups.values()]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    text = str(exc) or type(exc).__name__
    return _storable(f"{type(exc).__name__}: {text}"[:500])


def _storable(text: str) -> str:
    """What a receiver sent, as a text column can hold it: PostgreSQL's cannot hold NUL, and a try
    that cannot be written down would leave its delivery waiting for good."""
    return text.replace("\x00", "\ufffd")
