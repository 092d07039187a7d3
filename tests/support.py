"""Test helpers that act as the operator would with the CLI, through the same services."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from datetime import UTC, datetime

from qasid.accounts import service as accounts
from qasid.accounts.records import Account, AccountStatus, PaymentType
from qasid.accounts.repository import AccountRepository
from qasid.billing import service as billing
from qasid.billing.records import DEFAULT_SCOPE, Price
from qasid.db import Database
from qasid.routing import service as routing
from qasid.senders import service as senders
from qasid.server_secret import server_secret
from qasid.settings import get_settings
from qasid.vault import Vault


@dataclass
class Customer:
    account: Account
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Operator:
    """Sets up accounts, keys, prices and senders in committed transactions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def customer(
        self,
        *,
        balance: int = 100_000,
        postpaid_limit: int | None = None,
        currency: str = "IQD",
        senders_approved: tuple[str, ...] = ("Qasid",),
        price: int | None = 20,
        name: str = "customer",
    ) -> Customer:
        now = datetime.now(UTC)
        with self.db.write() as conn:
            if postpaid_limit is None:
                account = accounts.create_account(conn, name, now, amount=balance, currency=currency)
            else:
                account = accounts.create_account(
                    conn,
                    name,
                    now,
                    payment_type=PaymentType.POSTPAID,
                    amount=postpaid_limit,
                    currency=currency,
                )
            for sender in senders_approved:
                senders.add_sender(conn, account.id, sender, now, approved=True)
            if price is not None:
                billing.set_price(conn, Price(account.id, "*", "*", "sms", currency, price), now)
            _, key = accounts.create_key(conn, account, now)
        return Customer(account, key)

    def set_price(self, price: Price) -> None:
        with self.db.write() as conn:
            billing.set_price(conn, price, datetime.now(UTC))

    def default_price(self, country: str, operator: str, amount: int, currency: str = "IQD") -> None:
        self.set_price(Price(DEFAULT_SCOPE, country, operator, "sms", currency, amount))

    def account(self, account_id: str) -> Account:
        with self.db.read() as conn:
            return accounts.require_account(conn, account_id)

    def ledger_sum(self, account_id: str) -> int:
        with self.db.read() as conn:
            return AccountRepository(conn).ledger_sum(account_id)

    def suspend(self, account_id: str) -> None:
        with self.db.write() as conn:
            accounts.set_status(conn, account_id, AccountStatus.SUSPENDED, datetime.now(UTC))


def vault() -> Vault:
    """The vault of the test's gateway: the same server secret (the test's ``settings``)."""
    return Vault(server_secret(get_settings()))


def add_simulator(db: Database, name: str = "sim", *, priority: int = 100, **config: object) -> str:
    """A simulator connector with a catch-all route; returns its id."""
    now = datetime.now(UTC)
    with db.write() as conn:
        record = routing.add_connector(conn, "simulator", name, dict(config), now)
        routing.add_route(conn, record.id, now, priority=priority)
    return record.id


async def running_simulator(
    app, db: Database, name: str = "sim", *, priority: int = 100, **config: object
) -> str:
    """A simulator connector and route, once the gateway's worker has picked them up."""
    connector_id = add_simulator(db, name, priority=priority, **config)
    links = app.state.services.worker.links
    await wait_for(lambda: connector_id in links.running and links.table.candidates("sms", "IQ", None, "+1"))
    return connector_id


async def wait_for(check, within: float = 10.0, every: float = 0.02):
    """Poll ``check()`` (sync or async) until it returns something truthy; fail after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {within} s: {check}")
        await asyncio.sleep(every)
