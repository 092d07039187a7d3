"""The verification service that front doors call: create, check, cancel, resend, read.

Decisions that need no database (the number, the workflow, the code, the text, the price) are made
on the event loop; every limit that counts rows is checked again inside the write (``CreateVerification``
and friends, in the group commit), where the account's row is locked, so two requests racing for the
same number cannot both pass. A verification's SMS is an ordinary message (``qasid.messages``): it is
priced, charged, routed, retried and reported like any other, and carries ``{code}`` until the
dispatcher fills it in.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from anyio import to_thread
from sqlalchemy import Connection, RowMapping, select

from qasid.accounts.records import Caller
from qasid.accounts.repository import AccountRepository
from qasid.billing.records import Channel
from qasid.cache import TTLCache
from qasid.db import Database
from qasid.db.bulk import Query
from qasid.db.writer import GroupCommitWriter, Plan, WriteOp
from qasid.domain import ids
from qasid.domain.phone import Recipient, Refusal, parse_recipient
from qasid.errors import (
    ActiveVerificationExists,
    ActiveVerificationsLimit,
    ChannelUnavailable,
    CountryNotAllowed,
    DailyLimitReached,
    InvalidRequest,
    MaxSendsReached,
    NotFound,
    NoValidRecipients,
    NumberRateLimited,
    PrefixRateLimited,
    QasidError,
    VerificationClosed,
)
from qasid.messages.accept import accept_sends, screened
from qasid.messages.prepare import PreparedSend
from qasid.messages.schemas import SendMessageRequest
from qasid.messages.service import MessageService
from qasid.metrics import ACCEPTED, VERIFICATIONS, count
from qasid.models import routes
from qasid.optout.records import ListKind
from qasid.optout.service import refusals_query
from qasid.otp import policy as policies
from qasid.otp import texts
from qasid.otp.codes import PLACEHOLDER, CodeBook
from qasid.otp.fallback import FallbackPolicy, Sent, schedule
from qasid.otp.policy import Limits, Policy
from qasid.otp.repository import (
    PENDING,
    History,
    VerificationFilter,
    VerificationRepository,
    count_pending,
    expire_due,
    pending_of,
    supersede,
)
from qasid.otp.schemas import (
    CheckRecord,
    CheckResult,
    CreateVerificationRequest,
    SendRecord,
    Verification,
    VerificationDetail,
    VerificationPage,
)
from qasid.settings import Settings
from qasid.webhooks.events import verification_statuses
from qasid.webhooks.records import Subscriber
from qasid.webhooks.repository import EndpointRepository
from qasid.webhooks.schemas import Callback

DAY = timedelta(days=1)


def _wait(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


@dataclass(slots=True)
class _Recent:
    id: str
    status: str
    created_at: datetime
    expires_at: datetime


class Admissions:
    """The limits of a batch of new verifications, decided from one query for the whole batch
    (``query``) and kept up to date as each is admitted, so that two in one batch count against
    each other."""

    @staticmethod
    def query(conn: Connection, rows: Sequence[dict[str, Any]], prefix_window: timedelta) -> Query[History]:
        now = max(row["created_at"] for row in rows)
        return VerificationRepository(conn).admission_history(
            [row["account_id"] for row in rows],
            [row["recipient"] for row in rows],
            [row["prefix"] for row in rows if row["prefix"]],
            numbers_since=now - DAY,
            prefixes_since=now - prefix_window,
        )

    def __init__(self, conn: Connection, history: History) -> None:
        self.conn = conn
        # Per account: pending, and when the first of them ends once they are counted (``running``).
        self.pending: dict[str, tuple[int, datetime | None]] = {}
        self.tallies = history.pending
        self.counted: set[str] = set()
        self.numbers: dict[tuple[str, str], list[_Recent]] = {}
        for vid, account_id, recipient, status, created_at, expires_at in history.numbers:
            self.numbers.setdefault((account_id, recipient), []).append(
                _Recent(vid, status, created_at, expires_at)
            )
        self.blocks: dict[tuple[str, str], list[datetime]] = {}
        for account_id, prefix, created_at in history.blocks:
            self.blocks.setdefault((account_id, prefix), []).append(created_at)

    def admit(self, row: dict[str, Any], limits: Limits) -> list[str]:
        """Raise the first limit ``row`` breaks; else count it and return the pending verifications
        of its number that it replaces (those older than the grace period)."""
        account_id, recipient, now = row["account_id"], row["recipient"], row["created_at"]
        if account_id not in self.pending:
            written = self.tallies.get(account_id, 0)
            self.pending[account_id] = (pending_of(self.conn, account_id, written), None)
        pending, first_end = self.pending[account_id]
        if pending >= limits.account_active_limit and account_id not in self.counted:
            # The tally counts too those whose time ran out and that the expiry sweep has not
            # written down yet: at the limit, the ones still running are counted.
            self.counted.add(account_id)
            pending, first_end = VerificationRepository(self.conn).running(account_id, now)
        if pending >= limits.account_active_limit:
            raise ActiveVerificationsLimit(
                f"the account has {pending} pending verifications; at most {limits.account_active_limit}",
                retry_after=_wait(first_end or now, now),
            )
        today = [r for r in self.numbers.get((account_id, recipient), []) if r.created_at >= now - DAY]
        if len(today) >= limits.daily_limit:
            raise DailyLimitReached(
                f"{limits.daily_limit} verifications were sent to this number in the last 24 hours",
                retry_after=_wait(today[-limits.daily_limit].created_at + DAY, now),
            )
        in_window = [r for r in today if r.created_at > now - limits.window]
        if len(in_window) >= limits.window_limit:
            raise NumberRateLimited(
                f"{limits.window_limit} verifications were sent to this number in the last "
                f"{limits.window.total_seconds():.0f} seconds",
                retry_after=_wait(in_window[-limits.window_limit].created_at + limits.window, now),
            )
        active = [r for r in today if r.status == PENDING and r.expires_at > now]
        young = [r for r in active if r.created_at > now - limits.grace]
        if young:
            raise ActiveVerificationExists(
                f"verification {young[-1].id} is pending for this number",
                retry_after=_wait(max(r.created_at for r in young) + limits.grace, now),
                verification_id=young[-1].id,
            )
        block = [
            t for t in self.blocks.get((account_id, row["prefix"]), []) if t >= now - limits.prefix_window
        ]
        if row["prefix"] and len(block) >= limits.prefix_limit:
            raise PrefixRateLimited(
                f"{limits.prefix_limit} verifications went to numbers starting {row['prefix']} in the last "
                f"{limits.prefix_window.total_seconds():.0f} seconds",
                retry_after=_wait(block[-limits.prefix_limit] + limits.prefix_window, now),
            )
        for replaced in active:
            replaced.status = "canceled"
        self.numbers.setdefault((account_id, recipient), []).append(
            _Recent(row["id"], PENDING, now, row["expires_at"])
        )
        self.blocks.setdefault((account_id, row["prefix"]), []).append(now)
        self.pending[account_id] = (pending + 1 - len(active), first_end)
        return [r.id for r in active]


@dataclass(slots=True)
class CreateVerification(WriteOp[Verification]):
    row: dict[str, Any]
    prepared: PreparedSend
    limits: Limits
    supplied_code: str | None
    policy: FallbackPolicy

    kind = "verification"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[Verification | QasidError]:
        return cls.plan(conn, ops).run(conn)

    @classmethod
    def plan(cls, conn: Connection, ops: Sequence[Self]) -> Plan[Verification]:
        """The accounts locked, the limits' history and the lists' refusals, read together (and
        with the checks' reads, which go before them in the transaction: ``CheckVerification``).
        A verification a check of the same transaction approves still counts as pending for these
        limits: at worst a create is refused that a moment later would not be, never the other
        way round. Nothing else before them in a transaction writes what they read."""
        return Plan(
            [
                AccountRepository(conn).lock_query([op.row["account_id"] for op in ops]),
                Admissions.query(conn, [op.row for op in ops], max(op.limits.prefix_window for op in ops)),
                refusals_query(conn, screened([op.prepared for op in ops])),
            ],
            lambda answers: _create_many(conn, ops, *answers),
        )


def _create_many(
    conn: Connection,
    ops: Sequence[CreateVerification],
    accounts: dict[str, dict[str, Any]],
    history: History,
    refused: dict[tuple[str, str], ListKind],
) -> list[Verification | QasidError]:
    """A batch of new verifications in a few statements: the accounts locked, the limits read and
    the lists asked once (``CreateVerification.plan``), the messages accepted together, and each
    table written with one insert. (Should a later step refuse one, say for want of funds, it has
    still counted against the limits of the others of its batch: the error is on the side of
    caution, and only within a batch.)"""
    admissions = Admissions(conn, history)
    results: dict[int, Verification | QasidError] = {}
    admitted: list[tuple[int, CreateVerification, list[str]]] = []
    for index, op in enumerate(ops):
        try:
            admitted.append((index, op, admissions.admit(op.row, op.limits)))
        except QasidError as refusal:
            results[index] = refusal
    outcomes = accept_sends(conn, [op.prepared for _, op, _ in admitted], locked=accounts, refused=refused)
    accepted = []
    for (index, op, replaced), outcome in zip(admitted, outcomes, strict=True):
        if isinstance(outcome, QasidError):
            results[index] = outcome
            continue
        accepted.append((op, replaced))
        results[index] = _shape(op.row, op.row["created_at"], code=op.supplied_code)
    if accepted:
        now = max(op.row["created_at"] for op in ops)
        superseded = supersede(conn, [vid for _, replaced in accepted for vid in replaced], now)
        verification_statuses(conn, superseded, now)
        repo = VerificationRepository(conn)
        repo.insert_many([op.row for op, _ in accepted])
        count_pending(conn, began=[op.row for op, _ in accepted], ended=superseded)
        repo.add_sends(
            [
                (op.row["id"], op.row["channel"], op.prepared.messages[0].id, op.row["created_at"])
                for op, _ in accepted
            ]
        )
        # One service's policy, every op's: the fallback jobs of the batch in one insert.
        schedule(conn, [_sent(op) for op, _ in accepted], policy=accepted[0][0].policy)
    return [results[index] for index in range(len(ops))]


def _sent(op: CreateVerification) -> Sent:
    row = op.row
    return (op.prepared.messages[0].id, row["channels"].split(","), row["channel"], row["created_at"])


@dataclass(slots=True)
class CheckVerification(WriteOp[CheckResult]):
    """Checks go before the sends and creates of their transaction (``phase``; after delivery
    reports): sends and creates lock their accounts' rows from their start to the commit, and
    other transactions wait for those locks.
    No check reads what a create of the same transaction writes: a verification's id reaches its
    caller only after the commit that created it."""

    account_id: str
    verification_id: str
    digest: str  # of the code the caller sent
    now: datetime

    kind = "verification_check"
    phase = -1

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[CheckResult | QasidError]:
        return cls.plan(conn, ops).run(conn)

    @classmethod
    def plan(cls, conn: Connection, ops: Sequence[Self]) -> Plan[CheckResult]:
        """The verifications read (and locked), and the webhook endpoints their accounts have, for
        the events of those that end."""
        return Plan(
            [
                VerificationRepository(conn).get_many_query([op.verification_id for op in ops], lock=True),
                EndpointRepository(conn).subscribers_query(sorted({op.account_id for op in ops})),
            ],
            lambda answers: _check_many(conn, ops, *answers),
        )


def _check_many(
    conn: Connection,
    ops: Sequence[CheckVerification],
    found: list[dict[str, Any]],
    subscribers: dict[str, list[Subscriber]],
) -> list[CheckResult | QasidError]:
    """A batch of checks: the verifications read (and locked) by one query, then one update and one
    insert; two checks of one verification in a batch see each other."""
    repo = VerificationRepository(conn)
    rows = {row["id"]: row for row in found}
    results: list[CheckResult | QasidError] = []
    changed: dict[str, tuple[str, int, datetime]] = {}
    checks: list[tuple[str, str, datetime]] = []
    for op in ops:
        row = rows.get(op.verification_id)
        if row is None or row["account_id"] != op.account_id:
            results.append(NotFound(f"no verification {op.verification_id!r}"))
            continue
        status, attempts = _status(row, op.now), row["attempts"]
        if status == "approved":
            results.append(
                VerificationClosed("this verification was already approved", verification_status=status)
            )
            continue
        if status == PENDING:
            if hmac.compare_digest(row["code_digest"], op.digest):
                status = "approved"
            else:
                attempts += 1
                status = "max_attempts_reached" if attempts >= row["max_attempts"] else PENDING
        if (status, attempts) != (row["status"], row["attempts"]):  # an expiry is written down too
            row["status"], row["attempts"] = status, attempts
            changed[row["id"]] = (status, attempts, op.now)
        result = "invalid" if status == PENDING else status
        checks.append((row["id"], result, op.now))
        results.append(
            CheckResult(id=row["id"], status=result, attempts_left=max(0, row["max_attempts"] - attempts))
        )
    repo.set_many([(vid, *values) for vid, values in changed.items()])
    repo.add_checks(checks)
    # A check reads a pending one whose time ran out as expired, and writes that down: it ends too.
    ended = [rows[vid] for vid, (status, _, _) in changed.items() if status != PENDING]
    count_pending(conn, ended=ended)
    verification_statuses(conn, ended, max(op.now for op in ops), subscribers)
    return results


@dataclass(slots=True)
class CancelVerification(WriteOp[None]):
    account_id: str
    verification_id: str
    now: datetime

    kind = "verification_cancel"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        return [_cancel(conn, op) for op in ops]


def _cancel(conn: Connection, op: CancelVerification) -> QasidError | None:
    repo = VerificationRepository(conn)
    row = _pending(repo, op.account_id, op.verification_id, op.now)
    if isinstance(row, QasidError):
        return row
    repo.set(row["id"], op.now, status="canceled")
    count_pending(conn, ended=[row])
    verification_statuses(conn, [{**row, "status": "canceled"}], op.now)
    return None


def _pending(
    repo: VerificationRepository, account_id: str, verification_id: str, now: datetime
) -> RowMapping | QasidError:
    """The verification, locked, if it is still pending; else why not."""
    row = repo.get(account_id, verification_id, lock=True)
    if row is None:
        return NotFound(f"no verification {verification_id!r}")
    status = _status(row, now)
    if status != PENDING:
        return VerificationClosed(f"this verification is {status}", verification_status=status)
    return row


@dataclass(slots=True)
class ExpireVerifications(WriteOp[int]):
    """Pending verifications whose time ran out are written down ``expired`` (their status read as
    expired already) and told to whoever listens; run by every worker's upkeep."""

    now: datetime

    kind = "verification_expiry"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[int | QasidError]:
        now = max(op.now for op in ops)
        expired = expire_due(conn, now)
        count_pending(conn, ended=expired)
        verification_statuses(conn, expired, now)
        return [len(expired)] + [0] * (len(ops) - 1)


@dataclass(slots=True)
class ResendVerification(WriteOp[None]):
    account_id: str
    verification_id: str
    prepared: PreparedSend
    now: datetime
    policy: FallbackPolicy

    kind = "verification_resend"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        return [_resend(conn, op) for op in ops]


def _resend(conn: Connection, op: ResendVerification) -> QasidError | None:
    AccountRepository(conn).lock_for_update([op.account_id])
    repo = VerificationRepository(conn)
    row = _pending(repo, op.account_id, op.verification_id, op.now)
    if isinstance(row, QasidError):
        return row
    if row["sends"] >= row["max_sends"]:
        return MaxSendsReached(f"the code was sent {row['sends']} times; at most {row['max_sends']}")
    outcome = accept_sends(conn, [op.prepared])[0]
    if isinstance(outcome, QasidError):
        return outcome
    repo.set(row["id"], op.now, sends=row["sends"] + 1)
    message_id = op.prepared.messages[0].id
    repo.add_sends([(row["id"], row["channel"], message_id, op.now)])
    schedule(conn, [(message_id, row["channels"].split(","), row["channel"], op.now)], policy=op.policy)
    return None


def _status(row: RowMapping | dict[str, Any], now: datetime) -> str:
    """The stored status, or ``expired`` for a pending one whose time ran out."""
    status: str = row["status"]
    return "expired" if status == PENDING and now >= row["expires_at"] else status


def _shape(row: RowMapping | dict[str, Any], now: datetime, *, code: str | None = None) -> Verification:
    return Verification(
        id=row["id"],
        to=row["recipient"],
        status=_status(row, now),
        channel=row["channel"],
        channels=row["channels"].split(","),
        locale=row["locale"],
        attempts_left=max(0, row["max_attempts"] - row["attempts"]),
        code_length=row["code_length"],
        brand=row["brand"],
        sends=row["sends"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        code=code,
    )


class VerificationService:
    def __init__(
        self,
        db: Database,
        writer: GroupCommitWriter,
        settings: Settings,
        messages: MessageService,
        codes: CodeBook,
    ) -> None:
        self.db, self.writer, self.settings, self.messages, self.codes = db, writer, settings, messages, codes
        self.policy = FallbackPolicy(settings)
        self._channels: TTLCache[str, frozenset[str]] = TTLCache(settings.cache_seconds)
        self._policies: TTLCache[str, Policy] = TTLCache(settings.cache_seconds)

    async def create(self, caller: Caller, request: CreateVerificationRequest) -> Verification:
        now = datetime.now(UTC)
        policy = await self._policy(caller)
        recipient = self._recipient(caller, request.to, policy)
        channels = await self._workflow(request.channels or policy.channels)
        ttl = request.ttl or policy.ttl_seconds
        code = request.code or self.codes.new(request.code_length or policy.code_length)
        brand = request.brand or request.sender
        body = texts.render(
            policy.text(request.locale),
            brand,
            math.ceil(ttl / 60),
            app_hash=request.app_hash,
            web_domain=request.web_domain,
        )
        verification_id = ids.new_id("ver", int(now.timestamp() * 1000))
        if (own := request.message_callback) is not None:  # named as this request names it
            self.messages.callbacks.make(
                own.url, statuses=own.statuses, secret=own.secret, field="message_callback"
            )
        refusal: NoValidRecipients | None = None
        for channel in channels:  # the first channel the account can send on (has a price for)
            try:
                prepared = await self._prepare(
                    caller,
                    recipient.e164,
                    request.sender,
                    body,
                    channel=channel,
                    code_length=len(code),
                    ttl=ttl,
                    now=now,
                    callback=request.message_callback,
                )
                break
            except NoValidRecipients as refused:
                refusal = refusal or refused
        else:
            assert refusal is not None  # noqa: S101 - a workflow has at least one channel
            raise refusal
        row = {
            "id": verification_id,
            "account_id": caller.account_id,
            "recipient": recipient.e164,
            "country": recipient.country,
            "channels": ",".join(channels),
            "channel": channel,
            "status": PENDING,
            "code_length": len(code),
            "code_digest": self.codes.digest(verification_id, code),
            "code_seal": self.codes.seal(verification_id, code),
            "code_supplied": request.code is not None,
            "locale": request.locale,
            "brand": brand,
            "sender": prepared.batch.sender,
            "callback_url": request.callback_url,
            "callback_secret": self._callback_secret(request),
            "message_callback": prepared.batch.callback,  # checked and sealed by the send's preparation
            "attempts": 0,
            "max_attempts": policy.limits.max_attempts,
            "sends": 1,
            "max_sends": policy.limits.max_sends,
            "expires_at": now + timedelta(seconds=ttl),
            "created_at": now,
            "updated_at": now,
            "prefix": recipient.e164[: -self.settings.otp_prefix_tail_digits],
        }
        prepared.batch = prepared.batch._replace(verification_id=verification_id)
        created = await self.writer.submit(
            CreateVerification(row, prepared, policy.limits, request.code, self.policy)
        )
        count(VERIFICATIONS, "created")
        self._accepted()
        return created

    def _callback_secret(self, request: CreateVerificationRequest) -> str | None:
        """The callback URL checked (as any webhook's); its secret sealed."""
        if request.callback_url is None:
            return None
        made = self.messages.callbacks.make(
            request.callback_url, secret=request.callback_secret, field="callback_url"
        )
        return made.secret

    async def check(self, caller: Caller, verification_id: str, code: str) -> CheckResult:
        self._known(verification_id)
        digest = self.codes.digest(verification_id, code)
        result = await self.writer.submit(
            CheckVerification(caller.account_id, verification_id, digest, datetime.now(UTC))
        )
        count(VERIFICATIONS, result.status)
        return result

    async def cancel(self, caller: Caller, verification_id: str) -> VerificationDetail:
        self._known(verification_id)
        await self.writer.submit(CancelVerification(caller.account_id, verification_id, datetime.now(UTC)))
        return await self.get(caller, verification_id)

    async def resend(self, caller: Caller, verification_id: str) -> VerificationDetail:
        self._known(verification_id)
        row, body = await to_thread.run_sync(self._for_resend, caller.account_id, verification_id)
        now = datetime.now(UTC)
        status = _status(row, now)
        if status != PENDING:
            raise VerificationClosed(f"this verification is {status}", verification_status=status)
        remaining = math.ceil((row["expires_at"] - now).total_seconds())
        prepared = await self._prepare(
            caller,
            row["recipient"],
            row["sender"],
            body,
            channel=row["channel"],
            code_length=row["code_length"],
            ttl=remaining,
            now=now,
        )
        prepared.batch = prepared.batch._replace(
            verification_id=verification_id, callback=row["message_callback"]
        )
        await self.writer.submit(
            ResendVerification(caller.account_id, verification_id, prepared, now, self.policy)
        )
        self._accepted()
        return await self.get(caller, verification_id)

    async def get(self, caller: Caller, verification_id: str) -> VerificationDetail:
        self._known(verification_id)
        return await to_thread.run_sync(self._read_one, caller.account_id, verification_id)

    async def search(self, caller: Caller, where: VerificationFilter, limit: int) -> VerificationPage:
        return await to_thread.run_sync(self._read_page, caller.account_id, where, limit)

    # The steps

    async def _policy(self, caller: Caller) -> Policy:
        def read() -> Policy:
            with self.db.read() as conn:
                return policies.resolve(
                    policies.load(conn, caller.account_id), caller.default_region, self.settings
                )

        return await self._policies.get_or_load(caller.account_id, lambda: to_thread.run_sync(read))

    def _recipient(self, caller: Caller, raw: str, policy: Policy) -> Recipient:
        parsed = parse_recipient(raw, caller.default_region)
        if isinstance(parsed, Refusal):
            raise InvalidRequest(
                f"to: {parsed.detail}",
                errors=[{"field": "to", "message": parsed.reason}],
                reason=parsed.reason,
            )
        if policy.countries is not None and parsed.country not in policy.countries:
            allowed = ", ".join(sorted(policy.countries))
            raise CountryNotAllowed(
                f"this account sends verifications to {allowed} only, not {parsed.country}",
                country=parsed.country,
            )
        return parsed

    async def _workflow(self, asked: Sequence[str]) -> Sequence[str]:
        channels = list(asked)
        if len(set(channels)) != len(channels):
            raise ChannelUnavailable(
                "each channel may appear once in the workflow",
                errors=[{"field": "channels", "message": "repeated channel"}],
            )
        routed = await self._channels.get_or_load("routed", lambda: to_thread.run_sync(self._routed_channels))
        missing = [channel for channel in channels if channel not in routed]
        if missing:
            raise ChannelUnavailable(
                f"no route sends {', '.join(missing)} on this gateway",
                errors=[{"field": "channels", "message": f"{c}: no route"} for c in missing],
            )
        return channels

    async def _prepare(
        self,
        caller: Caller,
        to: str,
        sender: str,
        body: str,
        *,
        channel: str,
        code_length: int,
        ttl: int,
        now: datetime,
        callback: Callback | None = None,
    ) -> PreparedSend:
        """The message that carries the code: priced and counted with digits where ``{code}`` stands."""
        counted = body.replace(PLACEHOLDER, "0" * code_length)
        validity = max(self.settings.min_validity_seconds, ttl)
        # A code the person asked for goes even if they once sent STOP; a blocked number gets none.
        request = SendMessageRequest(
            to=to, text=counted, sender=sender, validity=validity, stop_list=False, callback=callback
        )
        prepared = await self.messages.prepare(caller, request, now, channel=Channel(channel))
        prepared.batch = prepared.batch._replace(body=body)
        prepared.urgent = True  # a code: someone is waiting for it
        return prepared

    def _accepted(self) -> None:
        count(ACCEPTED, "sms")
        if self.messages.on_accepted is not None:
            self.messages.on_accepted()

    @staticmethod
    def _known(verification_id: str) -> None:
        if not ids.is_valid("ver", verification_id):
            raise NotFound(f"no verification {verification_id!r}")

    def _routed_channels(self) -> frozenset[str]:
        with self.db.read() as conn:
            return frozenset(conn.execute(select(routes.c.channel).distinct()).scalars())

    def _for_resend(self, account_id: str, verification_id: str) -> tuple[RowMapping, str]:
        with self.db.read() as conn:
            repo = VerificationRepository(conn)
            row = repo.get(account_id, verification_id)
            body = repo.latest_body(verification_id) if row is not None else None
        if row is None or body is None:
            raise NotFound(f"no verification {verification_id!r}")
        return row, body

    def _read_one(self, account_id: str, verification_id: str) -> VerificationDetail:
        now = datetime.now(UTC)
        with self.db.read() as conn:
            repo = VerificationRepository(conn)
            row = repo.get(account_id, verification_id)
            if row is None:
                raise NotFound(f"no verification {verification_id!r}")
            sends = [
                SendRecord(
                    channel=s["channel"],
                    message_id=s["message_id"],
                    status=s["message_status"],
                    at=s["created_at"],
                )
                for s in repo.sends(verification_id)
            ]
            checks = [
                CheckRecord(result=c["result"], at=c["created_at"]) for c in repo.checks(verification_id)
            ]
        fields = {name: getattr(_shape(row, now), name) for name in Verification.__struct_fields__}
        return VerificationDetail(**fields, send_history=sends, checks=checks)

    def _read_page(self, account_id: str, where: VerificationFilter, limit: int) -> VerificationPage:
        now = datetime.now(UTC)
        with self.db.read() as conn:
            rows = VerificationRepository(conn).page(account_id, where, now, limit + 1)
        data = [_shape(row, now) for row in rows[:limit]]
        return VerificationPage(data=data, next_cursor=data[-1].id if len(rows) > limit else None)
