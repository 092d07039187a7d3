"""Use cases about money: credit, prices, and the price list a send is charged from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from qasid.accounts.records import Account, PaymentType
from qasid.accounts.repository import AccountRepository
from qasid.billing.records import ANY, DEFAULT_SCOPE, Channel, EntryKind, Price, PriceList
from qasid.billing.repository import LedgerRepository, PriceRepository
from qasid.errors import InvalidRequest, NotFound


def add_credit(
    conn: Connection, account: Account, amount: int, now: datetime, *, note: str | None = None
) -> int:
    """Add (or, with a negative amount, take back) credit; returns the new balance.

    A positive amount is a top-up; a negative one an adjustment, which may not take a prepaid
    account below zero."""
    if amount == 0:
        raise InvalidRequest("the amount must not be zero", errors=[{"field": "amount", "message": "zero"}])
    if amount < 0 and account.payment_type == PaymentType.PREPAID and account.balance + amount < 0:
        raise InvalidRequest(
            f"the balance is {account.balance}; a prepaid account cannot go below zero",
            errors=[{"field": "amount", "message": "would take the balance below zero"}],
        )
    kind = EntryKind.TOPUP if amount > 0 else EntryKind.ADJUSTMENT
    record_entry(conn, account.id, kind, amount, now, note=note)
    return account.balance + amount


def record_entry(
    conn: Connection,
    account_id: str,
    kind: EntryKind,
    amount: int,
    now: datetime,
    *,
    note: str | None = None,
    batch_id: str | None = None,
    message_id: str | None = None,
) -> None:
    """One ledger row and the matching move of the running balance, in the caller's transaction."""
    LedgerRepository(conn).insert_many(
        [
            {
                "account_id": account_id,
                "kind": kind,
                "amount": amount,
                "batch_id": batch_id,
                "message_id": message_id,
                "note": note,
                "created_at": now,
            }
        ]
    )
    AccountRepository(conn).add_to_balances({account_id: amount}, now)


def check_price(price: Price) -> Price:
    """Refuse a price row that could never match or would pay out money."""
    problems = []
    if price.price < 0:
        problems.append({"field": "price", "message": "must not be negative"})
    if price.country != ANY and not (len(price.country) == 2 and price.country.isalpha()):
        problems.append({"field": "country", "message": "ISO 3166 alpha-2 code or *"})
    if price.country == ANY and price.operator != ANY:
        problems.append({"field": "operator", "message": "an operator needs a country"})
    if price.channel not in tuple(Channel):
        problems.append({"field": "channel", "message": f"one of {', '.join(Channel)}"})
    if problems:
        raise InvalidRequest("invalid price", errors=problems)
    return Price(
        scope=price.scope,
        country=price.country.upper(),
        operator=price.operator.lower(),
        channel=price.channel,
        currency=price.currency.upper(),
        price=price.price,
    )


def set_price(conn: Connection, price: Price, now: datetime) -> Price:
    checked = check_price(price)
    PriceRepository(conn).upsert(checked, now)
    return checked


def remove_price(conn: Connection, price: Price) -> None:
    if PriceRepository(conn).remove(check_price(price)) == 0:
        raise NotFound("no such price")


def price_list(conn: Connection, account_id: str, currency: str) -> PriceList:
    return PriceList.build(
        account_id, PriceRepository(conn).for_scopes([DEFAULT_SCOPE, account_id], currency)
    )


@dataclass(frozen=True, slots=True)
class Refund:
    account_id: str
    message_id: str
    batch_id: str
    amount: int
    note: str


def refund_many(conn: Connection, refunds: list[Refund], now: datetime) -> None:
    """Give back what accepting these messages reserved: a ledger row each, balances moved together."""
    refunds = [r for r in refunds if r.amount]
    if not refunds:
        return
    LedgerRepository(conn).insert_many(
        [
            {
                "account_id": r.account_id,
                "kind": EntryKind.REFUND.value,
                "amount": r.amount,
                "batch_id": r.batch_id,
                "message_id": r.message_id,
                "note": r.note,
                "created_at": now,
            }
            for r in refunds
        ]
    )
    amounts: dict[str, int] = {}
    for r in refunds:
        amounts[r.account_id] = amounts.get(r.account_id, 0) + r.amount
    AccountRepository(conn).add_to_balances(amounts, now, last=True)
