"""Use cases about long numbers: the operator adds them, assigns them to accounts and takes them
back; accounts see theirs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping

from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest, NotFound, NumberTaken
from qasid.numbers.repository import NumberRepository


def canonical(number: str) -> str:
    found = normalize_e164(number)
    if found is None:
        raise InvalidRequest(
            f"invalid number {number!r}",
            errors=[
                {"field": "number", "message": "a valid international number (E.164: + and the country code)"}
            ],
        )
    return found


def add(conn: Connection, number: str, now: datetime, *, note: str | None = None) -> RowMapping:
    found = canonical(number)
    repo = NumberRepository(conn)
    if repo.get(found) is not None:
        raise NumberTaken(f"{found} is held already")
    repo.insert(found, note, now)
    return _require(repo, found)


def assign(conn: Connection, number: str, account_id: str, now: datetime) -> RowMapping:
    """Give a free number to an account (again to the same account changes nothing)."""
    repo = NumberRepository(conn)
    row = _require(repo, canonical(number))
    if row["account_id"] not in (None, account_id):
        raise NumberTaken(f"{row['number']} is assigned to another account; release it first")
    if row["account_id"] is None:
        repo.assign(row["number"], account_id, now)
    return _require(repo, row["number"])


def release(conn: Connection, number: str) -> RowMapping:
    """Take a number back from its account: it no longer sends for it or receives for it."""
    repo = NumberRepository(conn)
    row = _require(repo, canonical(number))
    repo.assign(row["number"], None, None)
    return _require(repo, row["number"])


def _require(repo: NumberRepository, number: str) -> RowMapping:
    row = repo.get(number)
    if row is None:
        raise NotFound(f"no number {number}")
    return row
