"""What the accounts domain hands to other layers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class PaymentType(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    status: AccountStatus
    payment_type: PaymentType
    currency: str
    credit_limit: int
    balance: int
    default_region: str
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> int:
        """What the account may still spend: its balance, plus the credit limit when postpaid."""
        return available(self.payment_type, self.balance, self.credit_limit)


def available(payment_type: str, balance: int, credit_limit: int) -> int:
    return balance + credit_limit if payment_type == PaymentType.POSTPAID else balance


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    name: str
    prefix: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's account, as the request path needs it."""

    account_id: str
    key_id: str
    currency: str
    default_region: str
    payment_type: PaymentType
