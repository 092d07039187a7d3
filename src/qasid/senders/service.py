"""Use cases about sender IDs.

An alphanumeric sender is 1 to 11 characters of A-Z, a-z, 0-9 and space with at least one letter
(the GSM 03.40 limit for an alphanumeric originator). Anything made only of digits, "+", spaces and
dashes is a numeric sender and must be a valid number; it is kept in E.164.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection

from qasid.domain import ids
from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest, NotFound
from qasid.senders.records import Sender, SenderKind, SenderStatus
from qasid.senders.repository import SenderRepository

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


def add_sender(conn: Connection, account_id: str, name: str, now: datetime, *, approved: bool) -> Sender:
    kind, canonical = normalize(name)
    repo = SenderRepository(conn)
    if repo.get(account_id, canonical) is not None:
        raise InvalidRequest(f"the account already has the sender {canonical!r}")
    sender = Sender(
        id=ids.new_id("snd"),
        account_id=account_id,
        name=canonical,
        kind=kind,
        status=SenderStatus.APPROVED if approved else SenderStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    repo.insert(sender)
    return sender


def set_status(conn: Connection, account_id: str, name: str, status: SenderStatus, now: datetime) -> Sender:
    repo = SenderRepository(conn)
    sender = repo.get(account_id, normalize(name)[1])
    if sender is None:
        raise NotFound(f"the account has no sender {name!r}")
    repo.set_status(sender.id, status, now)
    found = repo.get(account_id, sender.name)
    assert found is not None  # noqa: S101 - read back in the same transaction
    return found


def statuses(conn: Connection, account_id: str) -> dict[str, SenderStatus]:
    """Every sender of the account by canonical name, for the send path's cache."""
    return {sender.name: sender.status for sender in SenderRepository(conn).list(account_id)}
