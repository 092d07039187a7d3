"""An account's verification rules: the gateway's defaults (``QASID_OTP_*``) with the account's own
overrides (``qasid otp policy ACCOUNT ...``, table ``verification_policies``) on top.

Everything a verification may be limited by lives here: where it may go (countries), how it goes
(the default workflow, the code's length and life, the texts), and how often (per number, per block
of numbers, per account).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from qasid.errors import InvalidRequest
from qasid.models import verification_policies
from qasid.otp import texts
from qasid.otp.codes import MAX_LENGTH, MIN_LENGTH, PLACEHOLDER
from qasid.settings import Settings

ANY_COUNTRY = "*"
CHANNELS = ("sms", "whatsapp", "telegram")
# Policy fields that are plain numbers, with the range each may take.
NUMBERS = {
    "code_length": (MIN_LENGTH, MAX_LENGTH),
    "ttl_seconds": (60, 86400),
    "max_attempts": (1, 20),
    "max_sends": (1, 20),
    "number_window_seconds": (1, 86400),
    "number_window_limit": (1, 1000),
    "active_grace_seconds": (0, 86400),
    "number_daily_limit": (1, 100_000),
    "account_active_limit": (1, 10_000_000),
    "prefix_window_seconds": (1, 86400),
    "prefix_limit": (1, 1_000_000),
}
FIELDS = ("countries", "channels", *NUMBERS, "texts")


@dataclass(frozen=True, slots=True)
class Limits:
    max_attempts: int
    max_sends: int
    window: timedelta
    window_limit: int
    grace: timedelta
    daily_limit: int
    account_active_limit: int
    prefix_window: timedelta
    prefix_limit: int


@dataclass(frozen=True, slots=True)
class Policy:
    countries: frozenset[str] | None  # None: any country
    channels: tuple[str, ...]
    code_length: int
    ttl_seconds: int
    limits: Limits
    texts: dict[str, str]

    def text(self, locale: str) -> str:
        return self.texts.get(locale) or texts.TEXTS[locale]


def resolve(row: Any, default_region: str, settings: Settings) -> Policy:
    """The account's policy from its row (or None: the defaults)."""

    def pick(name: str, default: Any) -> Any:
        value = None if row is None else row[name]
        return default if value is None else value

    countries_text = pick("countries", default_region)
    countries = None if countries_text == ANY_COUNTRY else frozenset(countries_text.split(","))
    channels = tuple(c for c in pick("channels", settings.otp_default_channels).split(",") if c)
    limits = Limits(
        max_attempts=pick("max_attempts", settings.otp_max_attempts),
        max_sends=pick("max_sends", settings.otp_max_sends),
        window=timedelta(seconds=pick("number_window_seconds", settings.otp_number_window_seconds)),
        window_limit=pick("number_window_limit", settings.otp_number_window_limit),
        grace=timedelta(seconds=pick("active_grace_seconds", settings.otp_active_grace_seconds)),
        daily_limit=pick("number_daily_limit", settings.otp_number_daily_limit),
        account_active_limit=pick("account_active_limit", settings.otp_account_active_limit),
        prefix_window=timedelta(seconds=pick("prefix_window_seconds", settings.otp_prefix_window_seconds)),
        prefix_limit=pick("prefix_limit", settings.otp_prefix_limit),
    )
    own_texts = msgspec.json.decode(row["texts"]) if row is not None and row["texts"] else {}
    return Policy(
        countries=countries,
        channels=channels,
        code_length=pick("code_length", settings.otp_code_length),
        ttl_seconds=pick("ttl_seconds", settings.otp_ttl_seconds),
        limits=limits,
        texts=own_texts,
    )


def load(conn: Connection, account_id: str) -> Any:
    query = select(verification_policies).where(verification_policies.c.account_id == account_id)
    return conn.execute(query).mappings().first()


def change(conn: Connection, account_id: str, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Set (or, with None, reset to the default) the named fields; returns the account's overrides."""
    values = {name: _checked(name, value) for name, value in changes.items()}
    if load(conn, account_id) is None:
        conn.execute(insert(verification_policies).values(account_id=account_id, updated_at=now, **values))
    else:
        conn.execute(
            update(verification_policies)
            .where(verification_policies.c.account_id == account_id)
            .values(updated_at=now, **values)
        )
    row = load(conn, account_id)
    shown = {name: row[name] for name in FIELDS if row[name] is not None}
    if not shown:
        conn.execute(delete(verification_policies).where(verification_policies.c.account_id == account_id))
    return shown


def _checked(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in NUMBERS:
        low, high = NUMBERS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidRequest(f"{name} must be a whole number from {low} to {high}")
        return value
    if name == "countries":
        codes = [c.strip().upper() for c in str(value).split(",") if c.strip()]
        if codes == [ANY_COUNTRY]:
            return ANY_COUNTRY
        if not codes or any(len(c) != 2 or not c.isalpha() for c in codes):
            raise InvalidRequest("countries must be ISO 3166 alpha-2 codes, comma separated, or *")
        return ",".join(sorted(set(codes)))
    if name == "channels":
        channels = [c.strip() for c in str(value).split(",") if c.strip()]
        if not channels or len(set(channels)) != len(channels) or not set(channels) <= set(CHANNELS):
            raise InvalidRequest(f"channels must name each of {', '.join(CHANNELS)} at most once")
        return ",".join(channels)
    if name == "texts":
        if not isinstance(value, dict) or not set(value) <= set(texts.LOCALES):
            raise InvalidRequest(f"texts must map locales ({', '.join(texts.LOCALES)}) to texts")
        for locale, text in value.items():
            check_text(locale, text)
        return msgspec.json.encode(value).decode() if value else None
    raise InvalidRequest(f"unknown policy field {name!r}; fields: {', '.join(FIELDS)}")


def check_text(locale: str, text: Any) -> None:
    """An account's own text: ``{code}`` once, and only ``{brand}`` and ``{minutes}`` besides."""
    if not isinstance(text, str) or not 1 <= len(text) <= 500:
        raise InvalidRequest(f"texts.{locale} must be 1 to 500 characters")
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        raise InvalidRequest(f"texts.{locale}: {exc}") from None
    if fields.count("code") != 1 or not set(fields) <= {"code", "brand", "minutes"}:
        raise InvalidRequest(
            f"texts.{locale} must hold {PLACEHOLDER} once, and may hold {{brand}} and {{minutes}}"
        )
