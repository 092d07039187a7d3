"""Query parameters that several listings share: a phone number and a time range."""

from __future__ import annotations

from datetime import UTC, datetime

from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest


def number(to: str | None, default_region: str, field: str = "to") -> str | None:
    """``?to=`` (or ``field``) as E.164 (national numbers read in the account's region), or a 422."""
    if to is None:
        return None
    found = normalize_e164(to, default_region)
    if found is None:
        raise InvalidRequest(
            f"{field}: {to!r} is not a phone number", errors=[{"field": field, "message": "invalid"}]
        )
    return found


def aware(moment: datetime | None) -> datetime | None:
    """Query times without an offset are read as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
