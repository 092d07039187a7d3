"""Ledger entries and prices as the rest of Qasid sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

ANY = "*"
DEFAULT_SCOPE = "*"


class EntryKind(StrEnum):
    TOPUP = "topup"  # credit added by an operator
    RESERVE = "reserve"  # taken when a message is accepted
    REFUND = "refund"  # given back when a message is canceled, rejected or expires unsent
    ADJUSTMENT = "adjustment"  # an operator's correction (may be negative)


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    account_id: str
    kind: str
    amount: int
    batch_id: str | None
    message_id: str | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Price:
    """Minor units per part for (country, operator, channel) in ``currency``; ``*`` matches any."""

    scope: str
    country: str
    operator: str
    channel: str
    currency: str
    price: int


@dataclass(frozen=True, slots=True)
class PriceList:
    """Prices for one account in its currency, resolved most specific first:
    the account's own (country+operator, country, any) before the default list's."""

    account: dict[tuple[str, str, str], int]
    default: dict[tuple[str, str, str], int]

    def price(self, country: str, operator: str | None, channel: str) -> int | None:
        for table in (self.account, self.default):
            if operator is not None and (found := table.get((country, operator, channel))) is not None:
                return found
            if (found := table.get((country, ANY, channel))) is not None:
                return found
            if (found := table.get((ANY, ANY, channel))) is not None:
                return found
        return None

    @classmethod
    def build(cls, account_id: str, prices: list[Price]) -> PriceList:
        own = {(p.country, p.operator, p.channel): p.price for p in prices if p.scope == account_id}
        default = {(p.country, p.operator, p.channel): p.price for p in prices if p.scope == DEFAULT_SCOPE}
        return cls(account=own, default=default)
