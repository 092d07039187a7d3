"""Response shapes about accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from qasid.accounts.records import Account


class AccountInfo(Struct, kw_only=True):
    id: str
    name: str
    status: str
    payment_type: Annotated[str, Meta(description="prepaid or postpaid")]
    currency: str
    balance: Annotated[int, Meta(description="minor units; the sum of the account's ledger entries")]
    credit_limit: Annotated[int, Meta(description="postpaid: how far below zero the balance may go")]
    available: Annotated[int, Meta(description="what may still be spent")]
    default_region: Annotated[str, Meta(description="region used to read national-format numbers")]
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        return cls(
            id=account.id,
            name=account.name,
            status=account.status.value,
            payment_type=account.payment_type.value,
            currency=account.currency,
            balance=account.balance,
            credit_limit=account.credit_limit,
            available=account.available,
            default_region=account.default_region,
            created_at=account.created_at,
        )
