"""``qasid prices``, ``qasid senders`` and ``qasid numbers``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from qasid.accounts.service import require_account
from qasid.billing import service as billing
from qasid.billing.records import ANY, DEFAULT_SCOPE, Channel, Price
from qasid.billing.repository import PriceRepository
from qasid.cli.common import minor, now, reading, settings, show, transaction
from qasid.domain.phone import operator_slug
from qasid.numbers import service as numbers
from qasid.numbers.repository import NumberRepository
from qasid.senders import service as senders
from qasid.senders.records import Destination, SenderStatus
from qasid.senders.repository import SenderRepository

prices = typer.Typer(help="Set the price per part by country, operator and channel.", no_args_is_help=True)
sender_ids = typer.Typer(help="Sender IDs an account may send from.", no_args_is_help=True)
numbers_ = typer.Typer(help="Long numbers: held, assigned to accounts, released.", no_args_is_help=True)

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
    """The account's sender IDs, their status (and why rejected) and where they may go."""
    with reading() as conn:
        found = require_account(conn, account)
        repo = SenderRepository(conn)
        rows = repo.of_account(found.id)
        destinations = repo.destinations([s.id for s in rows])
    pending = [s for s in rows if s.status == SenderStatus.PENDING]
    for s in rows:
        where = ", ".join(_destination(d, found.currency) for d in destinations.get(s.id, [])) or "everywhere"
        why = s.reason or s.purpose or ""
        shown = where if s.status == SenderStatus.APPROVED else why
        typer.echo(f"{s.id}  {s.name:<16} {s.kind:<12} {s.status:<9} {shown}".rstrip())
    if pending:
        typer.echo(f"{len(pending)} waiting: qasid senders approve|reject {account} NAME", err=True)


def _destination(d: Destination, currency: str) -> str:
    price = f" at {show(d.price, currency)}" if d.price is not None else ""
    return f"{d.country}/{d.operator}{price}"


@sender_ids.command("approve")
def approve(
    account: str,
    name: str,
    country: Annotated[
        str | None, typer.Option(help="approve it only here (ISO 3166), with --operator")
    ] = None,
    operator: Annotated[str | None, typer.Option(help="... and only for this operator (or *)")] = None,
    price: Annotated[
        str | None,
        typer.Option(help="its own price per part there, in major units of the account's currency"),
    ] = None,
) -> None:
    """Let the account send from this sender ID: everywhere (clearing any destinations), or, with
    --country/--operator, there too (run again for each destination); --price sets what a part
    from it costs there."""
    with transaction() as conn:
        found = require_account(conn, account)
        destination = None
        if country is not None or operator is not None or price is not None:
            op = ANY if operator in (None, ANY) else operator_slug(operator)
            cost = minor(price, found.currency) if price is not None else None
            destination = Destination((country or ANY).upper(), op, cost)
        sender = senders.approve(conn, found.id, name, now(), destination)
        where = _where(conn, sender.id, found.currency)
    typer.echo(f"{sender.name} approved: {where}")


def _where(conn: Connection, sender_id: str, currency: str) -> str:
    found = SenderRepository(conn).destinations([sender_id]).get(sender_id, [])
    return ", ".join(_destination(d, currency) for d in found) or "everywhere"


@sender_ids.command("reject")
def reject(
    account: str,
    name: str,
    reason: Annotated[str | None, typer.Option(help="why, shown to the account")] = None,
) -> None:
    """Refuse this sender ID; sends from it are refused."""
    with transaction() as conn:
        sender = senders.set_status(
            conn, require_account(conn, account).id, name, SenderStatus.REJECTED, now(), reason=reason
        )
    typer.echo(f"{sender.name} {sender.status}" + (f": {sender.reason}" if sender.reason else ""))


@numbers_.command("add")
def add_number(
    number: Annotated[str, typer.Argument(help="E.164")],
    account: Annotated[str | None, typer.Option(help="assign it to this account at once")] = None,
    note: Annotated[str | None, typer.Option(help="a note for the operator")] = None,
) -> None:
    """Hold a long number (free until assigned)."""
    with transaction() as conn:
        row = numbers.add(conn, number, now(), note=note)
        if account is not None:
            row = numbers.assign(conn, row["number"], require_account(conn, account).id, now())
    typer.echo(_number_line(row))


@numbers_.command("assign")
def assign_number(number: str, account: str) -> None:
    """Give a free number to an account: it sends as it, and what phones send to it is the account's."""
    with transaction() as conn:
        row = numbers.assign(conn, number, require_account(conn, account).id, now())
    typer.echo(_number_line(row))


@numbers_.command("release")
def release_number(number: str) -> None:
    """Take a number back from its account."""
    with transaction() as conn:
        row = numbers.release(conn, number)
    typer.echo(_number_line(row))


@numbers_.command("list")
def list_numbers(
    account: Annotated[str | None, typer.Option(help="only this account's")] = None,
    free: Annotated[bool, typer.Option("--free", help="only the free ones")] = False,
) -> None:
    """The numbers held, and whose each is."""
    with reading() as conn:
        owner = require_account(conn, account).id if account is not None else None
        rows = NumberRepository(conn).listed(owner, free=free)
    for row in rows:
        typer.echo(_number_line(row))


def _number_line(row: Any) -> str:
    note = f'  "{row["note"]}"' if row["note"] else ""
    return f"{row['number']:<16} {row['account_id'] or 'free'}{note}"
