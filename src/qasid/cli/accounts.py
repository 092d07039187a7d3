"""``qasid accounts``, ``qasid keys`` and ``qasid credit``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from qasid.accounts import service
from qasid.accounts.records import AccountStatus, PaymentType
from qasid.accounts.repository import AccountRepository, ApiKeyRepository
from qasid.billing.service import add_credit
from qasid.cli.common import fail, minor, now, settings, show, transaction

accounts = typer.Typer(help="Create, inspect, suspend and resume accounts.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
credit = typer.Typer(help="Add credit to an account.", no_args_is_help=True)


@accounts.command("create")
def create_account(
    name: str,
    prepaid: Annotated[str | None, typer.Option(help="opening balance, in major units")] = None,
    postpaid: Annotated[str | None, typer.Option(help="credit limit, in major units")] = None,
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 code [default: QASID_DEFAULT_CURRENCY]")
    ] = None,
    region: Annotated[str | None, typer.Option(help="default region for national numbers")] = None,
) -> None:
    """Create an account (prepaid unless --postpaid) and print its id."""
    if prepaid is not None and postpaid is not None:
        fail("choose one of --prepaid and --postpaid")
    cur = (currency or settings().default_currency).upper()
    payment = PaymentType.POSTPAID if postpaid is not None else PaymentType.PREPAID
    amount = minor(postpaid if postpaid is not None else (prepaid or "0"), cur)
    with transaction() as conn:
        account = service.create_account(
            conn, name, now(), payment_type=payment, amount=amount, currency=cur,
            region=region or settings().default_region,
        )  # fmt: skip
    typer.echo(account.id)


@accounts.command("list")
def list_accounts() -> None:
    """Every account with its status and balance."""
    with transaction() as conn:
        found = AccountRepository(conn).list()
    for a in found:
        typer.echo(f"{a.id}  {a.status:<9}  {a.payment_type:<8}  {show(a.balance, a.currency):>16}  {a.name}")


@accounts.command("show")
def show_account(account: str) -> None:
    """One account; the balance is checked against the sum of its ledger."""
    with transaction() as conn:
        found = service.require_account(conn, account)
        ledger = AccountRepository(conn).ledger_sum(found.id)
    typer.echo(f"id:            {found.id}\nname:          {found.name}\nstatus:        {found.status}")
    typer.echo(f"payment type:  {found.payment_type}\ncurrency:      {found.currency}")
    typer.echo(f"balance:       {show(found.balance, found.currency)}")
    typer.echo(f"credit limit:  {show(found.credit_limit, found.currency)}")
    typer.echo(f"available:     {show(found.available, found.currency)}")
    typer.echo(f"region:        {found.default_region}")
    if ledger != found.balance:
        fail(f"the balance differs from the ledger sum ({ledger}); please report this")


def _set_status(account: str, status: AccountStatus) -> None:
    with transaction() as conn:
        found = service.set_status(conn, account, status, now())
    typer.echo(f"{found.id} {found.status}")


@accounts.command("suspend")
def suspend(account: str) -> None:
    """Refuse every request of the account until it is resumed."""
    _set_status(account, AccountStatus.SUSPENDED)


@accounts.command("resume")
def resume(account: str) -> None:
    """Let a suspended account send again."""
    _set_status(account, AccountStatus.ACTIVE)


@keys.command("create")
def create_key(
    account: str,
    name: Annotated[str, typer.Option(help="a label to tell keys apart")] = "default",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="expire after this many days")] = None,
) -> None:
    """Print a new API key. It is shown this once; only its hash is stored."""
    with transaction() as conn:
        found = service.require_account(conn, account)
        expires = now() + timedelta(days=expires_in_days) if expires_in_days else None
        key, plaintext = service.create_key(conn, found, now(), name=name, expires_at=expires)
    typer.echo(plaintext)
    typer.echo(
        f"key {key.id} (prefix {key.prefix}) for {found.id}; store it now, it is not shown again", err=True
    )


@keys.command("list")
def list_keys(account: str) -> None:
    """The account's keys: id, visible prefix, state and name (never the key itself)."""
    with transaction() as conn:
        found = service.require_account(conn, account)
        rows = ApiKeyRepository(conn).list(found.id)
    for k in rows:
        state = (
            "revoked"
            if k.revoked_at
            else ("expires " + k.expires_at.isoformat() if k.expires_at else "active")
        )
        typer.echo(f"{k.id}  qsk_{k.prefix}_…  {state:<10}  {k.name}")


@keys.command("revoke")
def revoke_key(key: Annotated[str, typer.Argument(help="key id or visible prefix")]) -> None:
    """Revoke a key; requests with it are refused within QASID_CACHE_SECONDS."""
    with transaction() as conn:
        revoked = service.revoke_key(conn, key, now())
    typer.echo(f"{revoked.id} revoked")


@credit.command("add")
def add(
    account: str,
    amount: Annotated[str, typer.Argument(help="major units; negative to take credit back")],
    note: Annotated[str | None, typer.Option(help="kept on the ledger entry")] = None,
) -> None:
    """Add credit (a ledger entry) and print the new balance."""
    with transaction() as conn:
        found = service.require_account(conn, account)
        balance = add_credit(conn, found, minor(amount, found.currency), now(), note=note)
    typer.echo(show(balance, found.currency))
