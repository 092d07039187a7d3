"""``qasid otp``: an account's verification rules, and the repair of its pending tally."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import typer
from sqlalchemy import select

from qasid.accounts.service import require_account
from qasid.cli.common import fail, now, settings, transaction
from qasid.models import accounts
from qasid.otp import policy
from qasid.otp.repository import recount_pending

otp = typer.Typer(help="One-time codes (verifications).", no_args_is_help=True)


@otp.command("policy")
def set_policy(
    account: Annotated[str, typer.Argument(help="account id")],
    changes: Annotated[
        list[str] | None,
        typer.Argument(help="FIELD=VALUE ... (values are JSON, or text; null puts back the default)"),
    ] = None,
) -> None:
    """Show an account's verification rules, or change them: countries=IQ,JO (or *),
    channels=whatsapp,sms, code_length, ttl_seconds, max_attempts, max_sends, number_window_seconds,
    number_window_limit, active_grace_seconds, number_daily_limit, account_active_limit,
    prefix_window_seconds, prefix_limit, and texts='{"en": "... {code} ..."}'."""
    parsed: dict[str, Any] = {}
    for item in changes or []:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            fail(f"{item!r} is not FIELD=VALUE")
        try:
            parsed[field] = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            parsed[field] = raw
    with transaction() as conn:
        found = require_account(conn, account)
        own = policy.change(conn, found.id, parsed, now()) if parsed else None
        row = policy.load(conn, found.id)
        if own is None:
            own = {name: row[name] for name in policy.FIELDS if row is not None and row[name] is not None}
        effective = policy.resolve(row, found.default_region, settings())
    limits = effective.limits
    lines = {
        "countries": ",".join(sorted(effective.countries)) if effective.countries else policy.ANY_COUNTRY,
        "channels": ",".join(effective.channels),
        "code_length": effective.code_length,
        "ttl_seconds": effective.ttl_seconds,
        "max_attempts": limits.max_attempts,
        "max_sends": limits.max_sends,
        "number_window_seconds": int(limits.window.total_seconds()),
        "number_window_limit": limits.window_limit,
        "active_grace_seconds": int(limits.grace.total_seconds()),
        "number_daily_limit": limits.daily_limit,
        "account_active_limit": limits.account_active_limit,
        "prefix_window_seconds": int(limits.prefix_window.total_seconds()),
        "prefix_limit": limits.prefix_limit,
        "texts": msgspec.json.encode(effective.texts).decode() if effective.texts else "(the built-in ones)",
    }
    for name, value in lines.items():
        typer.echo(f"{name:<24} {value}{'' if name in own else '  (default)'}")


@otp.command("recount")
def recount(
    accounts_: Annotated[
        list[str] | None, typer.Argument(metavar="[ACCOUNT]...", help="account ids (default: every account)")
    ] = None,
) -> None:
    """Count each account's pending verifications from the table again and set its tally to that
    (the tally is what the account's limit on pending verifications reads). The gateway keeps it
    in step by itself; recount after editing the verifications table by hand. Safe while the
    gateway runs."""
    with transaction() as conn:
        wanted = [require_account(conn, account).id for account in accounts_ or []]
        if not accounts_:
            wanted = list(conn.execute(select(accounts.c.id)).scalars())
        counted = recount_pending(conn, wanted)
    changed = {account: pair for account, pair in counted.items() if pair[0] != pair[1]}
    for account, (was, found) in changed.items():
        typer.echo(f"{account}  pending {found} (the tally said {was})")
    typer.echo(f"{len(counted)} tallies counted, {len(changed)} corrected")
