"""``qasid prices`` and ``qasid senders``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from sqlalchemy import Connection

from qasid.accounts.service import require_account
from qasid.billing import service as billing
from qasid.billing.records import ANY, DEFAULT_SCOPE, Channel, Price
from qasid.billing.repository import PriceRepository
from qasid.cli.common import minor, now, settings, show, transaction
from qasid.domain.phone import operator_slug
from qasid.senders import service as senders
from qasid.senders.records import SenderStatus
from qasid.senders.repository import SenderRepository

prices = typer.Typer(help="Set the price per part by country, operator and channel.", no_args_is_help=True)
sender_ids = typer.Typer(help="Sender IDs an account may send from.", no_args_is_help=True)

AccountOption = Annotated[str | None, typer.Option(help="an account's own price instead of the default list")]
OperatorOption = Annotated[str, typer.Option(help="operator (e.g. asiacell, zain, korek) or * for any")]
ChannelOption = Annotated[Channel, typer.Option(help="channel")]
CurrencyOption = Annotated[
    str | None, typer.Option(help="ISO 4217 [default: the account's, else the default]")
]


def _price(
    conn: Connection,
    country: str,
    *,
    operator: str,
    channel: Channel,
    account: str | None,
    currency: str | None,
) -> Price:
    """The key of a price row (its amount left at 0)."""
    scope, cur = DEFAULT_SCOPE, (currency or settings().default_currency).upper()
    if account is not None:
        found = require_account(conn, account)
        scope, cur = found.id, (currency or found.currency).upper()
    op = ANY if operator == ANY else operator_slug(operator)
    return Price(
        scope=scope, country=country.upper(), operator=op, channel=channel.value, currency=cur, price=0
    )


@prices.command("set")
def set_price(
    country: Annotated[str, typer.Argument(help="ISO 3166 alpha-2 (IQ), or * for anywhere")],
    price: Annotated[str, typer.Argument(help="per part, in major units of the currency")],
    *,
    operator: OperatorOption = ANY,
    channel: ChannelOption = Channel.SMS,
    account: AccountOption = None,
    currency: CurrencyOption = None,
) -> None:
    """Set a price per part; the most specific match wins (operator, then country, then *)."""
    with transaction() as conn:
        key = _price(conn, country, operator=operator, channel=channel, account=account, currency=currency)
        saved = billing.set_price(conn, replace(key, price=minor(price, key.currency)), now())
    typer.echo(
        f"{saved.scope} {saved.country} {saved.operator} {saved.channel}: {show(saved.price, saved.currency)}"
    )


@prices.command("remove")
def remove_price(
    country: str,
    *,
    operator: OperatorOption = ANY,
    channel: ChannelOption = Channel.SMS,
    account: AccountOption = None,
    currency: CurrencyOption = None,
) -> None:
    """Remove one price row."""
    with transaction() as conn:
        key = _price(conn, country, operator=operator, channel=channel, account=account, currency=currency)
        billing.remove_price(conn, key)
    typer.echo("removed")


@prices.command("list")
def list_prices(account: AccountOption = None) -> None:
    """The default price list, or an account's own prices and the defaults under them."""
    with transaction() as conn:
        scopes = [DEFAULT_SCOPE] if account is None else [require_account(conn, account).id, DEFAULT_SCOPE]
        rows = PriceRepository(conn).for_scopes(scopes)
    for p in rows:
        typer.echo(
            f"{p.scope:<30} {p.country:<2} {p.operator:<16} {p.channel:<9} {show(p.price, p.currency):>14}"
        )


@sender_ids.command("add")
def add_sender(
    account: str,
    name: Annotated[str, typer.Argument(help="1-11 letters/digits/spaces, or an E.164 number")],
    approved: Annotated[bool, typer.Option("--approved", help="approve it now (default: pending)")] = False,
) -> None:
    """Give the account a sender ID."""
    with transaction() as conn:
        found = require_account(conn, account)
        sender = senders.add_sender(conn, found.id, name, now(), approved=approved)
    typer.echo(f"{sender.id} {sender.name} {sender.kind} {sender.status}")


@sender_ids.command("list")
def list_senders(account: str) -> None:
    """The account's sender IDs and their status."""
    with transaction() as conn:
        rows = SenderRepository(conn).list(require_account(conn, account).id)
    for s in rows:
        typer.echo(f"{s.id}  {s.name:<16} {s.kind:<12} {s.status}")


def _set_status(account: str, name: str, status: SenderStatus) -> None:
    with transaction() as conn:
        sender = senders.set_status(conn, require_account(conn, account).id, name, status, now())
    typer.echo(f"{sender.name} {sender.status}")


@sender_ids.command("approve")
def approve(account: str, name: str) -> None:
    """Let the account send from this sender ID."""
    _set_status(account, name, SenderStatus.APPROVED)


@sender_ids.command("reject")
def reject(account: str, name: str) -> None:
    """Refuse this sender ID; sends from it are refused."""
    _set_status(account, name, SenderStatus.REJECTED)
