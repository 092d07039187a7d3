"""Use cases about accounts and API keys. Services never commit; their caller's transaction does."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime

from sqlalchemy import Connection

from qasid.accounts.records import Account, AccountStatus, ApiKey, Caller, PaymentType
from qasid.accounts.repository import AccountRepository, ApiKeyRepository
from qasid.billing.records import EntryKind
from qasid.billing.service import record_entry
from qasid.domain import ids, money
from qasid.errors import (
    AccountSuspended,
    ExpiredApiKey,
    InvalidApiKey,
    InvalidRequest,
    NotFound,
    RevokedApiKey,
)

KEY_SCHEME = "qsk"
_BASE62 = string.ascii_letters + string.digits
PREFIX_LENGTH = 8
SECRET_LENGTH = 40  # 40 base62 characters: about 238 bits


def create_account(
    conn: Connection,
    name: str,
    now: datetime,
    *,
    payment_type: PaymentType = PaymentType.PREPAID,
    amount: int = 0,
    currency: str = "IQD",
    region: str = "IQ",
) -> Account:
    """A new account. ``amount`` is the opening balance (prepaid) or the credit limit (postpaid)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("an account needs a name of 1 to 200 characters")
    if amount < 0:
        raise InvalidRequest("the amount must not be negative")
    money.exponent(currency)  # refuses unknown currencies
    account_id = ids.new_id("acc")
    prepaid = payment_type == PaymentType.PREPAID
    AccountRepository(conn).insert(
        {
            "id": account_id,
            "name": name,
            "status": AccountStatus.ACTIVE,
            "payment_type": payment_type,
            "currency": currency,
            "credit_limit": 0 if prepaid else amount,
            "balance": 0,
            "default_region": region.upper(),
            "created_at": now,
            "updated_at": now,
        }
    )
    if prepaid and amount:
        record_entry(conn, account_id, EntryKind.TOPUP, amount, now, note="opening balance")
    return require_account(conn, account_id)


def require_account(conn: Connection, ref: str) -> Account:
    """An account by id or unique name, or NotFound."""
    account = AccountRepository(conn).find(ref)
    if account is None:
        raise NotFound(f"no account {ref!r}")
    return account


def set_status(conn: Connection, ref: str, status: AccountStatus, now: datetime) -> Account:
    account = require_account(conn, ref)
    AccountRepository(conn).set_status(account.id, status, now)
    return require_account(conn, account.id)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    conn: Connection,
    account: Account,
    now: datetime,
    *,
    name: str = "default",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key for ``account``; returns it and the plaintext, which is never stored or shown again.

    Keys are random (about 238 bits), so a fast hash (SHA-256) is the right store: there is nothing
    to brute-force, and every request must verify one."""
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("the expiry time must be in the future")
    prefix = "".join(secrets.choice(_BASE62) for _ in range(PREFIX_LENGTH))
    plaintext = f"{KEY_SCHEME}_{prefix}_{''.join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))}"
    values = {
        "id": ids.new_id("key"),
        "account_id": account.id,
        "name": name,
        "prefix": prefix,
        "secret_hash": _hash(plaintext),
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    ApiKeyRepository(conn).insert(values)
    return ApiKey(**values), plaintext  # type: ignore[arg-type]  # values has exactly ApiKey's fields


def revoke_key(conn: Connection, ref: str, now: datetime) -> ApiKey:
    repo = ApiKeyRepository(conn)
    key = repo.find(ref)
    if key is None:
        raise NotFound(f"no API key {ref!r}")
    repo.revoke(key.id, now)
    found = repo.find(key.id)
    assert found is not None  # noqa: S101 - we just read it in this transaction
    return found


def key_prefix(presented: str) -> str:
    """The lookup prefix of a presented key, or InvalidApiKey when it cannot be one of ours."""
    scheme, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        raise InvalidApiKey("this is not a Qasid API key")
    return prefix


def check_key(presented: str, key: ApiKey | None, account: Account | None, now: datetime) -> Caller:
    """Decide whether ``presented`` (whose stored key and account were looked up by prefix) is good."""
    if key is None or account is None or not hmac.compare_digest(key.secret_hash, _hash(presented)):
        raise InvalidApiKey("unknown API key")
    if key.revoked_at is not None:
        raise RevokedApiKey("this API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise ExpiredApiKey("this API key has expired")
    if account.status != AccountStatus.ACTIVE:
        raise AccountSuspended("this account is suspended")
    return Caller(
        account_id=account.id,
        key_id=key.id,
        currency=account.currency,
        default_region=account.default_region,
        payment_type=account.payment_type,
    )


def lookup_key(conn: Connection, prefix: str) -> tuple[ApiKey | None, Account | None]:
    key = ApiKeyRepository(conn).by_prefix(prefix)
    account = AccountRepository(conn).get(key.account_id) if key else None
    return key, account
