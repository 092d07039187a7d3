"""The write half of accepting messages: money, rows, dispatch jobs and idempotency in one group commit.

For every ``AcceptSend`` in a group commit, in order: the account rows are locked (PostgreSQL
``FOR UPDATE``; SQLite's write lock already excludes everyone), the account must be active, an
``Idempotency-Key`` seen before answers with the stored response (or is refused if the body
differs), and the price must fit what the account has available. Accepted requests become a batch
row, message rows, one ``reserve`` ledger row and a move of the running balance, all in the one
transaction, with a dispatch job per message (due now, or at the schedule time): a request is either
wholly accepted, charged and queued, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

import msgspec
from sqlalchemy import Connection

from qasid.accounts.records import AccountStatus, available
from qasid.accounts.repository import AccountRepository
from qasid.billing.records import EntryKind
from qasid.billing.repository import LedgerRepository
from qasid.db.bulk import write
from qasid.db.writer import WriteOp
from qasid.errors import (
    AccountSuspended,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    NoValidRecipients,
    QasidError,
)
from qasid.messages.prepare import PreparedSend, drop_recipients
from qasid.messages.repository import IdempotencyRepository, MessageRepository, StoredResponse
from qasid.messages.schemas import SendMessageResponse
from qasid.optout.records import ListKind
from qasid.optout.service import Wanted, refusals, refused_recipient
from qasid.outbox.records import JobKind, Lane
from qasid.outbox.repository import JOBS_CHANNEL, JobRepository

ACCEPTED_STATUS = 202
AccountRow = Mapping[str, Any]  # an account's row, as AccountRepository.read_many gives it
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class SendOutcome:
    status_code: int
    body: bytes
    replayed: bool = False


@dataclass(slots=True)
class AcceptSend(WriteOp[SendOutcome]):
    prepared: PreparedSend
    idempotency_ttl: timedelta

    kind = "accept"

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.prepared.messages)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[SendOutcome | QasidError]:
        return _Acceptance(conn, [op.prepared for op in ops], ops[0].idempotency_ttl).run()


def accept_sends(
    conn: Connection,
    sends: list[PreparedSend],
    *,
    locked: Mapping[str, AccountRow] | None = None,
    refused: Mapping[tuple[str, str], ListKind] | None = None,
) -> list[SendOutcome | QasidError]:
    """Accept prepared sends inside another write op's transaction (a verification's SMS): the same
    checks and rows as ``AcceptSend``, without idempotency keys. ``locked``: the accounts' rows, as
    that transaction has already locked them (``AccountRepository.lock_for_update``); ``refused``:
    what the lists refuse of ``screened(sends)`` (or more), as ``refusals`` has already read it."""
    return _Acceptance(conn, sends, timedelta(0), locked=locked, refused=refused).run()


def screened(sends: Sequence[PreparedSend]) -> list[Wanted]:
    """The (account, number, stop-list applies) the lists are asked about for ``sends``."""
    return [(s.caller.account_id, m.recipient, s.stop_list) for s in sends for m in s.messages]


def accept_chunk(conn: Connection, sends: list[PreparedSend]) -> None:
    """Accept a campaign chunk's sends, all of them or none, inside the chunk's transaction; raises
    the first refusal, and the caller rolls the chunk back. The caller has already taken out the
    recipients the stop- and block-lists refuse (it counts them by reason), so they are not looked
    up again. The account's row is read without a lock and locked only after the chunk's thousands
    of rows are written, for the debit, which is checked again against the locked row: the chunk
    does not hold up the account's other sends while it is written (on PostgreSQL the group-commit
    writer, and every account's sends in its batch, waited on that lock for the whole chunk), and
    what was spent meanwhile cannot be overdrawn."""
    for outcome in _Acceptance(conn, sends, timedelta(0), chunk=True).run():
        if isinstance(outcome, QasidError):
            raise outcome


class _Acceptance:
    def __init__(
        self,
        conn: Connection,
        sends: list[PreparedSend],
        idempotency_ttl: timedelta,
        *,
        chunk: bool = False,
        locked: Mapping[str, AccountRow] | None = None,
        refused: Mapping[tuple[str, str], ListKind] | None = None,
    ) -> None:
        self.conn = conn
        self.refused = refused
        self.sends = sends
        self.ttl = idempotency_ttl
        self.chunk = chunk
        self.locked = locked
        self.accounts: Mapping[str, AccountRow] = {}
        self.deltas: dict[str, int] = {}
        self.seen_keys: dict[tuple[str, str], StoredResponse] = {}  # keys used earlier in this batch
        self.accepted: list[PreparedSend] = []
        self.idempotency_rows: list[dict[str, object]] = []

    def run(self) -> list[SendOutcome | QasidError]:
        repo = AccountRepository(self.conn)
        ids = [s.caller.account_id for s in self.sends]
        if self.locked is not None and self.locked.keys() >= set(ids):
            self.accounts = self.locked
        else:
            self.accounts = repo.read_many(ids) if self.chunk else repo.lock_for_update(ids)
        emptied = {} if self.chunk else self._screen()
        outcomes = [self._decide(send, emptied.get(index)) for index, send in enumerate(self.sends)]
        if not (self.chunk and any(isinstance(o, QasidError) for o in outcomes)):
            self._write()
        return outcomes

    def _screen(self) -> dict[int, QasidError]:
        """Take out the recipients on a stop-list or block-list (one query for the whole batch);
        a send left with nobody is refused, naming each one's reason."""
        refused = self.refused if self.refused is not None else refusals(self.conn, screened(self.sends))
        if not refused:
            return {}
        emptied: dict[int, QasidError] = {}
        for index, send in enumerate(self.sends):
            account = send.caller.account_id
            mine = {
                number: refused_recipient(number, kind)
                for (owner, number), kind in refused.items()
                if owner == account
            }
            if mine and any(m.recipient in mine for m in send.messages):
                drop_recipients(send, mine)
                if not send.messages:
                    emptied[index] = NoValidRecipients(
                        "none of the recipients can be sent to",
                        invalid=[msgspec.to_builtins(i) for i in send.invalid],
                    )
        return emptied

    def _decide(self, send: PreparedSend, emptied: QasidError | None) -> SendOutcome | QasidError:
        account = self.accounts.get(send.caller.account_id)
        if account is None:
            return NotFound("the account no longer exists")
        if account["status"] != AccountStatus.ACTIVE:
            return AccountSuspended("this account is suspended")
        if send.idempotency_key is not None and (prior := self._prior(send)) is not None:
            return prior  # the first answer, whatever the lists say now
        if emptied is not None:
            return emptied
        balance = account["balance"] + self.deltas.get(account["id"], 0)
        if (short := _short(account, balance, send.total_cost)) is not None:
            return short
        balance -= send.total_cost
        self.deltas[account["id"]] = self.deltas.get(account["id"], 0) - send.total_cost
        outcome = SendOutcome(ACCEPTED_STATUS, _render(send, account, balance))
        self._remember(send, outcome)
        self.accepted.append(send)
        return outcome

    def _prior(self, send: PreparedSend) -> SendOutcome | QasidError | None:
        """The answer for a key used before, or None when the key is new (or its record expired)."""
        assert send.idempotency_key is not None  # noqa: S101 - only called for keyed sends
        assert send.request_hash is not None  # noqa: S101 - set with the key
        scope = (send.caller.account_id, send.idempotency_key)
        if scope in self.seen_keys:
            return replay(self.seen_keys[scope], send.request_hash, send.created_at, self.ttl)
        repo = IdempotencyRepository(self.conn)
        stored = repo.get(*scope)
        answer = replay(stored, send.request_hash, send.created_at, self.ttl)
        if stored is not None and answer is None:  # expired: the key starts afresh
            repo.delete(*scope)
        return answer

    def _remember(self, send: PreparedSend, outcome: SendOutcome) -> None:
        if send.idempotency_key is None or send.request_hash is None:
            return
        self.seen_keys[(send.caller.account_id, send.idempotency_key)] = StoredResponse(
            send.request_hash, outcome.status_code, outcome.body, send.created_at
        )
        self.idempotency_rows.append(
            {
                "account_id": send.caller.account_id,
                "key": send.idempotency_key,
                "request_hash": send.request_hash,
                "status_code": outcome.status_code,
                "response": outcome.body,
                "created_at": send.created_at,
            }
        )

    def _write(self) -> None:
        if not self.accepted:
            return
        now = self.accepted[-1].created_at
        messages = MessageRepository(self.conn)
        messages.insert_batches([send.batch for send in self.accepted])
        messages.insert_messages([row for send in self.accepted for row in send.messages])
        JobRepository(self.conn).add(
            [
                (
                    JobKind.DISPATCH.value,
                    row.id,
                    send.batch.schedule_at or send.created_at,
                    0,
                    send.created_at,
                    Lane.URGENT if send.urgent else Lane.NORMAL,
                )
                for send in self.accepted
                for row in send.messages
            ]
        )
        LedgerRepository(self.conn).insert_many([_reserve(send) for send in self.accepted if send.total_cost])
        IdempotencyRepository(self.conn).insert_many(self.idempotency_rows)
        if self.conn.dialect.name == "postgresql":  # wake the workers when this commits
            write(self.conn, f"NOTIFY {JOBS_CHANNEL}")
        if self.chunk:
            self._check_locked()
        AccountRepository(self.conn).add_to_balances({k: v for k, v in self.deltas.items() if v}, now)

    def _check_locked(self) -> None:
        """A chunk's debits against its accounts' rows as they stand now, locked until it commits."""
        locked = AccountRepository(self.conn).lock_for_update(list(self.deltas))
        if len(locked) < len(self.deltas):
            raise NotFound("the account no longer exists")
        for account_id, row in locked.items():
            if row["status"] != AccountStatus.ACTIVE:
                raise AccountSuspended("this account is suspended")
            if (short := _short(row, row["balance"], -self.deltas[account_id])) is not None:
                raise short


def replay(
    stored: StoredResponse | None, request_hash: str, now: datetime, ttl: timedelta
) -> SendOutcome | QasidError | None:
    """What a repeated ``Idempotency-Key`` gets: the first response again, a refusal if the body
    differs, or None when the key is unused or its record has expired."""
    if stored is None or stored.created_at < now - ttl:
        return None
    if stored.request_hash != request_hash:
        return IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    return SendOutcome(stored.status_code, stored.response, replayed=True)


def _short(account: AccountRow, balance: int, cost: int) -> InsufficientFunds | None:
    """The refusal when ``cost`` does not fit what the account has available at ``balance``."""
    can_spend = available(account["payment_type"], balance, account["credit_limit"])
    if cost <= can_spend:
        return None
    return InsufficientFunds(
        f"this request costs {cost} {account['currency']}; {can_spend} is available",
        required=cost,
        available=can_spend,
        currency=account["currency"],
    )


def _reserve(send: PreparedSend) -> dict[str, object]:
    return {
        "account_id": send.caller.account_id,
        "kind": EntryKind.RESERVE.value,
        "amount": -send.total_cost,
        "batch_id": send.batch.id,
        "message_id": None,
        "note": None,
        "created_at": send.created_at,
    }


def _render(send: PreparedSend, account: AccountRow, balance: int) -> bytes:
    return _encoder.encode(
        SendMessageResponse(
            batch_id=send.batch.id,
            messages=send.accepted,
            invalid=send.invalid,
            duplicates=send.duplicates,
            total_cost=send.total_cost,
            currency=account["currency"],
            balance=balance,
            available=available(account["payment_type"], balance, account["credit_limit"]),
        )
    )


@dataclass(slots=True)
class PurgeIdempotency(WriteOp[int]):
    """Forget ``Idempotency-Key`` records older than ``before``."""

    before: datetime

    kind = "purge"

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[int | QasidError]:
        return [IdempotencyRepository(conn).purge_before(op.before) for op in ops]
