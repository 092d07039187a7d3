"""``qasid demo``: the account that ``make run`` prints a key for."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection

from qasid.accounts import service as accounts
from qasid.accounts.records import Account
from qasid.accounts.repository import AccountRepository
from qasid.billing import service as billing
from qasid.billing.records import DEFAULT_SCOPE, Price
from qasid.cli.common import now, settings, transaction
from qasid.errors import QasidError
from qasid.routing import service as routing
from qasid.routing.repository import RoutingRepository
from qasid.senders import service as senders

NAME = "demo"
SENDER = "Qasid"
SIMULATOR = "simulator"
# IQD per part: a default for Iraq and one per operator.
PRICES = (("*", 25), ("asiacell", 20), ("zain", 20), ("korek", 18))


def demo(
    key_file: Annotated[
        Path | None, typer.Option(help="where the key is kept between runs [default: QASID_DEMO_KEY_FILE]")
    ] = None,
) -> None:
    """Make sure a demo account exists (100,000 IQD, sender 'Qasid', Iraqi prices, a carrier simulator
    when there is no connector) and print its key."""
    key_file = key_file or settings().demo_key_file
    with transaction() as conn:
        account = next((a for a in AccountRepository(conn).list() if a.name == NAME), None)
        if account is None:
            account = _create(conn)
        _simulator(conn)
        key = _key(conn, account, key_file)
    cfg = settings()
    body = f'{{"to": ["+9647701234567"], "text": "Hello from Qasid", "sender": "{SENDER}"}}'
    typer.echo(f"Demo account {account.id}; API key (kept in {key_file}):\n\n    {key}\n")
    typer.echo("Send a message with it:\n")
    typer.echo(
        f"    curl -s http://{cfg.host}:{cfg.port}/v1/messages -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'\n"
    )
    typer.echo(
        "Read what the (simulated) phone got: `qasid simulator inbox`, or GET /v1/simulator/messages\n"
    )


def _create(conn: Connection) -> Account:
    account = accounts.create_account(conn, NAME, now(), amount=100_000, currency="IQD", region="IQ")
    senders.add_sender(conn, account.id, SENDER, now(), approved=True)
    for operator, price in PRICES:
        billing.set_price(conn, Price(DEFAULT_SCOPE, "IQ", operator, "sms", "IQD", price), now())
    return account


def _simulator(conn: Connection) -> None:
    """Without any connector, send everything to a carrier simulator (no network)."""
    if RoutingRepository(conn).connectors():
        return
    simulator = routing.add_connector(conn, "simulator", SIMULATOR, {"report_delay_ms": 200}, now())
    routing.add_route(conn, simulator.id, now(), priority=1000)


def _key(conn: Connection, account: Account, key_file: Path) -> str:
    """The key kept in ``key_file`` if it still works, else a new one written there."""
    if key_file.exists():
        kept = key_file.read_text().strip()
        try:
            key, owner = accounts.lookup_key(conn, accounts.key_prefix(kept))
            if owner is not None and owner.id == account.id:
                accounts.check_key(kept, key, owner, now())
                return kept
        except QasidError:
            pass
    _, plaintext = accounts.create_key(conn, account, now(), name="demo (make run)")
    key_file.write_text(plaintext + "\n")
    key_file.chmod(0o600)
    return plaintext
