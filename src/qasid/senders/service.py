"""Use cases about sender IDs.

An alphanumeric sender is 1 to 11 characters of A-Z, a-z, 0-9 and space with at least one letter
(the GSM 03.40 limit for an alphanumeric originator). Anything made only of digits, "+", spaces and
dashes is a numeric sender and must be a valid number; it is kept in E.164.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from anyio import to_thread
from sqlalchemy import Connection

from qasid.accounts.records import Caller
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.domain import ids
from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest, NotFound, SenderExists
from qasid.numbers.repository import NumberRepository
from qasid.senders.records import Destination, Sender, SenderKind, SenderRules, SenderStatus
from qasid.senders.repository import SenderRepository
from qasid.senders.schemas import Number, NumberList, SenderId, SenderIdList, SenderIdRequest

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC = re.compile(r"\+?[0-9][0-9 \-]*")


def normalize(name: str) -> tuple[SenderKind, str]:
    """The kind and canonical form of a sender name, or InvalidRequest saying what is wrong."""
    if _NUMERIC.fullmatch(name):
        digits = name.replace(" ", "").replace("-", "")
        e164 = normalize_e164(digits if digits.startswith("+") else f"+{digits}")
        if e164 is None:
            raise _invalid(name, "a numeric sender must be a valid international number (E.164)")
        return SenderKind.NUMERIC, e164
    if not _ALPHANUMERIC.fullmatch(name) or not any(c.isalpha() for c in name):
        raise _invalid(
            name, "an alphanumeric sender is 1-11 characters of A-Z, a-z, 0-9 and space, with a letter"
        )
    return SenderKind.ALPHANUMERIC, name


def _invalid(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"invalid sender {name!r}: {why}", errors=[{"field": "sender", "message": why}])


def add_sender(
    conn: Connection, account_id: str, name: str, now: datetime, *, approved: bool, purpose: str | None = None
) -> Sender:
    """A sender of the account: approved (the operator's ``qasid senders add --approved``), or a
    request the operator decides on (``POST /v1/sender-ids``)."""
    kind, canonical = normalize(name)
    repo = SenderRepository(conn)
    if repo.get(account_id, canonical) is not None:
        raise SenderExists(f"the account already has the sender {canonical!r}")
    sender = Sender(
        id=ids.new_id("snd"),
        account_id=account_id,
        name=canonical,
        kind=kind,
        status=SenderStatus.APPROVED if approved else SenderStatus.PENDING,
        created_at=now,
        updated_at=now,
        purpose=purpose,
    )
    repo.insert(sender)
    return sender


def set_status(
    conn: Connection,
    account_id: str,
    name: str,
    status: SenderStatus,
    now: datetime,
    *,
    reason: str | None = None,
) -> Sender:
    repo = SenderRepository(conn)
    sender = _require(repo, account_id, name)
    repo.set_status(sender.id, status, now, reason if status == SenderStatus.REJECTED else None)
    if status != SenderStatus.APPROVED:
        repo.clear_destinations(sender.id)
    return _require(repo, account_id, sender.name)


def approve(
    conn: Connection, account_id: str, name: str, now: datetime, destination: Destination | None = None
) -> Sender:
    """Approve a sender everywhere (its destinations cleared), or for one more destination, with
    its own price there if ``destination.price`` is set."""
    repo = SenderRepository(conn)
    sender = _require(repo, account_id, name)
    repo.set_status(sender.id, SenderStatus.APPROVED, now)
    if destination is None:
        repo.clear_destinations(sender.id)
    else:
        repo.add_destination(sender.id, destination, now)
    return _require(repo, account_id, sender.name)


def _require(repo: SenderRepository, account_id: str, name: str) -> Sender:
    sender = repo.get(account_id, normalize(name)[1])
    if sender is None:
        raise NotFound(f"the account has no sender {name!r}")
    return sender


def rules(conn: Connection, account_id: str) -> dict[str, SenderRules]:
    """Every sender of the account by canonical name, with where it may go, for the send path's
    cache; the long numbers assigned to the account are approved senders too."""
    repo = SenderRepository(conn)
    found = repo.of_account(account_id)
    destinations = repo.destinations([s.id for s in found if s.status == SenderStatus.APPROVED])
    own = {s.name: SenderRules(s.status, tuple(destinations.get(s.id, ()))) for s in found}
    assigned = {number: SenderRules(SenderStatus.APPROVED) for number in repo.assigned_numbers(account_id)}
    return {**own, **assigned}


class SenderIds:
    """What the API does with an account's sender IDs and numbers."""

    def __init__(self, db: Database, writer: GroupCommitWriter) -> None:
        self.db = db
        self.writer = writer

    async def request(self, caller: Caller, body: SenderIdRequest) -> SenderId:
        def write(conn: Connection) -> SenderId:
            sender = add_sender(
                conn, caller.account_id, body.name, datetime.now(UTC), approved=False, purpose=body.purpose
            )
            return SenderId.of(sender, [])

        return await self.writer.submit(Apply(write))

    async def listed(self, caller: Caller) -> SenderIdList:
        def read() -> SenderIdList:
            with self.db.read() as conn:
                repo = SenderRepository(conn)
                found = repo.of_account(caller.account_id)
                destinations = repo.destinations([s.id for s in found])
            return SenderIdList(data=[SenderId.of(s, destinations.get(s.id, [])) for s in found])

        return await to_thread.run_sync(read)

    async def get(self, caller: Caller, sender_id: str) -> SenderId:
        def read() -> SenderId:
            with self.db.read() as conn:
                repo = SenderRepository(conn)
                sender = repo.find(caller.account_id, sender_id)
                if sender is None:
                    raise NotFound(f"no sender ID {sender_id!r}")
                return SenderId.of(sender, repo.destinations([sender.id]).get(sender.id, []))

        return await to_thread.run_sync(read)

    async def numbers(self, caller: Caller) -> NumberList:
        def read() -> NumberList:
            with self.db.read() as conn:
                rows = NumberRepository(conn).listed(caller.account_id)
            return NumberList(data=[Number(number=r["number"], assigned_at=r["assigned_at"]) for r in rows])

        return await to_thread.run_sync(read)
