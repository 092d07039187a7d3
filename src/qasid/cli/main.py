"""``qasid``: run the gateway and administer it. ``qasid --help`` lists the commands."""

from __future__ import annotations

import os
import socket
import sys
from typing import Annotated

import typer

from qasid.cli import accounts, catalog, demo, lists, otp, routing, webhooks
from qasid.cli.common import fail, gateway_secret, settings
from qasid.migrations import pending, upgrade

app = typer.Typer(
    help="Qasid, a self-hosted SMS and OTP gateway. Settings come from QASID_* environment variables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(accounts.accounts, name="accounts")
app.add_typer(accounts.keys, name="keys")
app.add_typer(accounts.credit, name="credit")
app.add_typer(catalog.prices, name="prices")
app.add_typer(catalog.sender_ids, name="senders")
app.add_typer(catalog.numbers_, name="numbers")
app.add_typer(routing.connectors, name="connectors")
app.add_typer(routing.routes, name="routes")
app.add_typer(routing.simulator, name="simulator")
app.add_typer(otp.otp, name="otp")
app.add_typer(webhooks.webhooks, name="webhooks")
app.add_typer(lists.stop_list, name="stop-list")
app.add_typer(lists.block_list, name="block-list")
app.add_typer(lists.inbound, name="inbound")
app.command(name="demo")(demo.demo)


NewSecretOption = Annotated[
    bool,
    typer.Option(
        "--new-server-secret",
        help="make the secret this process reads the gateway's, in place of a lost one: codes in flight "
        "stop working, and sealed secrets must be set again",
    ),
]


@app.command()
def migrate(new_server_secret: NewSecretOption = False) -> None:
    """Create or upgrade the database schema (QASID_DATABASE_URL), make the server secret's file
    unless it or QASID_SECRET_KEY is there (the gateway would make it on its first start), and
    record which secret the gateway's data is keyed with: every process must then read that one."""
    upgrade(settings().database_url)
    typer.echo(f"database at head: {settings().database_url}")
    found = settings().secret_key is not None or settings().secret_key_file.exists()
    _, recorded = gateway_secret(create=True, replace=new_server_secret)
    if not found:
        typer.echo(f"server secret made: {settings().secret_key_file.resolve()} (keep it with the database)")
    if recorded and new_server_secret:
        typer.echo(
            "this server secret is now the gateway's: set sealed secrets again "
            "(`qasid connectors set NAME password=...`, `qasid webhooks rotate ID`)"
        )


HostOption = Annotated[str | None, typer.Option(help="[default: QASID_HOST]")]
PortOption = Annotated[int | None, typer.Option(help="0 picks a free port [default: QASID_PORT]")]


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Run the whole gateway in one process: the HTTP API, the dispatcher and the connectors."""
    _http(host, port, role="serve")


@app.command()
def api(host: HostOption = None, port: PortOption = None) -> None:
    """Run the HTTP API only; `qasid worker` processes dispatch what it accepts."""
    _http(host, port, role="api")


@app.command()
def worker() -> None:
    """Run the dispatcher and the connectors only (no HTTP); as many as you like per database."""
    import uvloop  # noqa: PLC0415

    from qasid.logging import configure_logging  # noqa: PLC0415
    from qasid.runtime import run_worker  # noqa: PLC0415 - keeps the admin commands quick to start

    configure_logging(settings())
    _require_schema()
    gateway_secret(create=True)
    _switch_often(settings().switch_interval_ms)
    typer.echo("Qasid worker running", err=False)
    uvloop.run(run_worker(settings()))


def _switch_often(milliseconds: float) -> None:
    """Each statement a group-commit writer sends gives up the interpreter, and the writer must win
    it back from the event loop, which keeps it for up to the switch interval when busy. A writer's
    transaction beside a busy thread took 16.9 ms at Python's 5 ms and 4.8 ms at 1 ms
    (bench/round_trips.py; docs/performance.md)."""
    sys.setswitchinterval(milliseconds / 1000)


def _require_schema() -> None:
    if problem := pending(settings().database_url):
        fail(problem)


def _http(host: str | None, port: int | None, *, role: str) -> None:
    import uvicorn  # noqa: PLC0415 - only these commands need the server

    from qasid.api.app import create_app  # noqa: PLC0415 - keeps the admin commands quick to start

    cfg = settings()
    _require_schema()
    gateway_secret(create=True)  # another secret is refused here in a line, not by the app's traceback
    _switch_often(cfg.switch_interval_ms)
    sock = socket.socket(socket.AF_INET6 if ":" in (host or cfg.host) else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host or cfg.host, cfg.port if port is None else port))
    bound_host, bound_port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(cfg, role=role),
            loop="uvloop" if os.name != "nt" else "asyncio",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=cfg.log_level,
            timeout_graceful_shutdown=30,
        )
    )
    typer.echo(f"Qasid listening on http://{bound_host}:{bound_port}", err=False)
    server.run(sockets=[sock])
