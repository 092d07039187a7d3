"""What every CLI command shares: settings, a database transaction, errors and amounts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from sqlalchemy import Connection

from qasid.db import Database
from qasid.domain import money
from qasid.errors import QasidError
from qasid.server_secret import check as check_secret
from qasid.server_secret import server_secret
from qasid.settings import Settings, get_settings
from qasid.vault import Vault


def settings() -> Settings:
    return get_settings()


@contextmanager
def transaction() -> Iterator[Connection]:
    """One write transaction; a ``QasidError`` is printed and exits 1 with nothing written."""
    db = Database.from_settings(settings())
    try:
        with db.write() as conn:
            yield conn
    except QasidError as exc:
        fail(exc.detail + _field_errors(exc))
    except money.MoneyError as exc:
        fail(str(exc))
    finally:
        db.dispose()


@contextmanager
def reading() -> Iterator[Connection]:
    """A read snapshot (nothing written, no write lock taken); a ``QasidError`` is printed and exits
    1, as in ``transaction()``."""
    db = Database.from_settings(settings())
    try:
        with db.read() as conn:
            yield conn
    except QasidError as exc:
        fail(exc.detail)
    finally:
        db.dispose()


def _field_errors(exc: QasidError) -> str:
    errors = exc.extra.get("errors") or []
    return "".join(f"\n  {e['field']}: {e['message']}" for e in errors)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def gateway_secret(*, create: bool, replace: bool = False) -> tuple[bytes, bool]:
    """The server secret (made if missing, with ``create``), checked against the one the database
    keeps (``qasid.server_secret``: recorded if none is, or in its place with ``replace``); and
    whether it was recorded now. A missing, short or other secret is printed and exits 1."""
    db = Database.from_settings(settings())
    try:
        secret = server_secret(settings(), create=create)
        with db.write() as conn:
            return secret, check_secret(conn, settings(), secret, replace=replace)
    except ValueError as exc:  # NoServerSecret, WrongServerSecret, one too short
        fail(str(exc))
        raise  # unreachable: fail() exits
    finally:
        db.dispose()


def open_vault() -> Vault:
    """Seals and opens secrets (signing secrets, connectors' credentials) under the server secret
    every process of the gateway shares; never a new one, never another."""
    return Vault(gateway_secret(create=False)[0])


def now() -> datetime:
    return datetime.now(UTC)


def minor(amount: str, currency: str) -> int:
    """An amount typed in major units ("12.50") as integer minor units of ``currency``."""
    try:
        return money.to_minor(amount, currency)
    except money.MoneyError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


def show(units: int, currency: str) -> str:
    return money.format_minor(units, currency)
