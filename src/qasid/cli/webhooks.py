"""``qasid webhooks``: accounts' webhook endpoints, and every delivery and try of them.

The operator acts on any account's endpoints and deliveries (the service's ``account_id=None``), so
the commands that name an endpoint or a delivery take its id alone.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
import typer

from qasid.accounts.service import require_account
from qasid.cli.common import fail, now, open_vault, reading, settings, transaction
from qasid.webhooks import service
from qasid.webhooks.guard import AddressPolicy
from qasid.webhooks.records import DeliveryStatus, EventType, Statuses
from qasid.webhooks.repository import DeliveryFilter, DeliveryRepository, EndpointRepository
from qasid.webhooks.schemas import CreateEndpointRequest, Delivery, Endpoint, UpdateEndpointRequest

webhooks = typer.Typer(
    help="Where accounts' events are pushed, and every delivery of them.", no_args_is_help=True
)

Shape = TypeVar("Shape", CreateEndpointRequest, UpdateEndpointRequest)
EndpointId = Annotated[str, typer.Argument(help="endpoint id (whe_...)")]
DeliveryId = Annotated[str, typer.Argument(help="delivery id (whd_...)")]
EventsOption = Annotated[
    list[EventType] | None, typer.Option("--event", help="an event it receives; repeat for more")
]
DescriptionOption = Annotated[str | None, typer.Option(help="a note for people; up to 200 characters")]


@webhooks.command("add")
def add_endpoint(
    account: Annotated[str, typer.Argument(help="account id or unique name")],
    url: Annotated[
        str, typer.Argument(help="http(s); public addresses only, unless QASID_WEBHOOK_ALLOWED_NETWORKS")
    ],
    event: EventsOption = None,
    statuses: Annotated[
        Statuses, typer.Option(help="message.status: every state change, or final states only")
    ] = Statuses.ALL,
    description: DescriptionOption = None,
) -> None:
    """Push the account's events to URL (all of them unless --event).

    Prints the endpoint's id, then its signing secret, which is shown this once: the receiver checks
    every call's signature with it (Standard Webhooks)."""
    request = _checked(
        CreateEndpointRequest, url=url, events=_names(event), statuses=statuses.value, description=description
    )
    vault, policy = open_vault(), _policy()
    with transaction() as conn:
        found = require_account(conn, account)
        row, secret = service.create_endpoint(
            conn, vault, policy, found.id, url=request.url, now=now(), events=request.events,
            statuses=request.statuses, description=request.description,
        )  # fmt: skip
    typer.echo(row["id"])
    typer.echo(secret)
    typer.echo(
        f"endpoint {row['id']} for {found.id}; the signing secret is shown only now: store it", err=True
    )


@webhooks.command("list")
def list_endpoints(account: Annotated[str, typer.Argument(help="account id or unique name")]) -> None:
    """The account's endpoints (never their secrets).

    One line each: id, state (and why it is disabled), events, statuses, failed tries in a row, URL
    and description."""
    with reading() as conn:
        rows = EndpointRepository(conn).of_account(require_account(conn, account).id)
    for row in rows:
        typer.echo(_endpoint_line(Endpoint.of(row)))


def _endpoint_line(e: Endpoint) -> str:
    state = "enabled" if e.enabled else f"disabled ({e.disabled_reason or 'no reason recorded'})"
    note = f'  "{e.description}"' if e.description else ""
    failures = _count(e.failures, "failure")
    return f"{e.id}  {state}  {','.join(e.events)}  {e.statuses}  {failures}  {e.url}{note}"


@webhooks.command("enable")
def enable(endpoint_id: EndpointId) -> None:
    """Turn an endpoint back on: its failures are forgotten and what waited for it is sent now."""
    _set_enabled(endpoint_id, True)


@webhooks.command("disable")
def disable(endpoint_id: EndpointId) -> None:
    """Stop sending to an endpoint.

    What already waits for it is held until it is enabled again; events from now on are not kept
    for it."""
    _set_enabled(endpoint_id, False)


def _set_enabled(endpoint_id: str, enabled: bool) -> None:
    policy = _policy()
    with transaction() as conn:
        row = service.change_endpoint(
            conn, policy, None, endpoint_id, now=now(), changes={"enabled": enabled}
        )
    typer.echo(f"{row['id']} {'enabled' if enabled else 'disabled'}")


@webhooks.command("set")
def set_endpoint(
    endpoint_id: EndpointId,
    url: Annotated[str | None, typer.Option(help="a new address (checked as on add)")] = None,
    event: EventsOption = None,
    statuses: Annotated[Statuses | None, typer.Option(help="message.status: all or final")] = None,
    description: DescriptionOption = None,
) -> None:
    """Change what is given of an endpoint's URL, events, statuses and description; print it.

    --event replaces the endpoint's events with those given."""
    request = _checked(
        UpdateEndpointRequest,
        url=url,
        events=_names(event),
        statuses=statuses and statuses.value,
        description=description,
    )
    changes = {name: value for name, value in msgspec.structs.asdict(request).items() if value is not None}
    if not changes:
        fail("nothing to change: give --url, --event, --statuses or --description")
    policy = _policy()
    with transaction() as conn:
        row = service.change_endpoint(conn, policy, None, endpoint_id, now=now(), changes=changes)
    typer.echo(_endpoint_line(Endpoint.of(row)))


@webhooks.command("remove")
def remove_endpoint(endpoint_id: EndpointId) -> None:
    """Remove an endpoint: it receives nothing more, and deliveries still waiting for it fail."""
    with transaction() as conn:
        service.delete_endpoint(conn, None, endpoint_id, now())
    typer.echo(f"{endpoint_id} removed")


@webhooks.command("rotate")
def rotate(endpoint_id: EndpointId) -> None:
    """Print a new signing secret, shown this once.

    It signs every try from now on and the old one stops at once, so give the receiver the new one
    straight away."""
    vault = open_vault()
    with transaction() as conn:
        secret = service.rotate_secret(conn, vault, None, endpoint_id, now())
    typer.echo(secret)
    typer.echo(f"new secret of {endpoint_id}; it is shown only now: store it", err=True)


@webhooks.command("deliveries")
def list_deliveries(
    account: Annotated[str, typer.Argument(help="account id or unique name")],
    endpoint: Annotated[str | None, typer.Option(help="only this endpoint's")] = None,
    status: Annotated[DeliveryStatus | None, typer.Option(help="only this status")] = None,
    subject: Annotated[
        str | None, typer.Option(help="only about this message, verification or inbound message")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
) -> None:
    """The account's deliveries, newest first.

    One line each: id, when, status, tries, event, subject, its sequence, and the last error."""
    where = DeliveryFilter(endpoint_id=endpoint, subject_id=subject, status=status and status.value)
    with reading() as conn:
        rows = DeliveryRepository(conn).page(require_account(conn, account).id, where, limit)
    for d in (Delivery.of(row) for row in rows):
        typer.echo(
            f"{d.id}  {d.created_at:%Y-%m-%d %H:%M:%S}  {d.status:<9}  {_tries(d.attempts):<9}  "
            f"{d.event_type:<19}  {d.subject_id}  #{d.sequence}  {d.last_error or ''}".rstrip()
        )


@webhooks.command("show-delivery")
def show_delivery(delivery_id: DeliveryId) -> None:
    """One delivery, its body and every try.

    Where it goes, its state, the body exactly as it is sent, and every try: when, the answer's
    status or the error, and how long it took."""
    with reading() as conn:
        d = service.delivery_detail(conn, None, delivery_id)
    receiver = f"endpoint {d.endpoint_id}" if d.endpoint_id else f"the request's callback {d.url}"
    state = f"{d.status}, {_tries(d.attempts)}"
    if d.next_try_at is not None:
        state += f", next try at {d.next_try_at:%Y-%m-%d %H:%M:%S}"
    typer.echo(f"id:          {d.id}\nevent:       {d.event_type} (webhook-id {d.event_id})")
    typer.echo(f"subject:     {d.subject_id} (sequence {d.sequence})\nreceiver:    {receiver}")
    typer.echo(f"status:      {state}\ncreated:     {d.created_at:%Y-%m-%d %H:%M:%S}")
    if d.last_error:
        typer.echo(f"last error:  {d.last_error}")
    typer.echo(f"payload:     {msgspec.json.encode(d.payload).decode()}")
    typer.echo("tries:" if d.tries else "tries:       none yet")
    for t in d.tries:
        answer = str(t.status_code) if t.status_code is not None else "no answer"
        error = f"  {t.error}" if t.error else ""
        typer.echo(f"  {t.at:%Y-%m-%d %H:%M:%S}  {answer:<9}  {t.latency_ms:>6} ms{error}")


@webhooks.command("replay")
def replay(delivery_id: DeliveryId) -> None:
    """Send a delivery again now, with the same webhook-id and body.

    For a failed delivery, or one the receiver lost; a receiver that has it already can tell it is
    a repeat by its webhook-id."""
    with transaction() as conn:
        row = service.replay(conn, None, delivery_id, now())
        endpoint = EndpointRepository(conn).find(row["endpoint_id"]) if row["endpoint_id"] else None
    typer.echo(f"{row['id']} will be sent again with the same webhook-id ({row['event_id']})")
    if endpoint is not None and not endpoint["enabled"]:
        typer.echo(
            f"its endpoint {endpoint['id']} is disabled: it waits until `qasid webhooks enable "
            f"{endpoint['id']}`"
        )


def _checked(shape: type[Shape], **fields: Any) -> Shape:
    """What was typed, checked by the API's own request shape (lengths, choices), so the terminal
    cannot store what the API would refuse."""
    try:
        return msgspec.convert({k: v for k, v in fields.items() if v is not None}, shape)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")  # "Expected ... - at `$.description`"
        fail(f"invalid --{where.rstrip('`')}: {message}" if where else message)
        raise  # unreachable: fail() exits


def _names(events: list[EventType] | None) -> list[str] | None:
    return [e.value for e in events] if events else None


def _tries(attempts: int) -> str:
    return f"{attempts} {'try' if attempts == 1 else 'tries'}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _policy() -> AddressPolicy:
    """The addresses webhooks may reach, as the API and the sender see them, so the terminal cannot
    register an endpoint the gateway would refuse to call."""
    try:
        return AddressPolicy.of(settings().webhook_allowed_networks)
    except ValueError as exc:
        fail(f"QASID_WEBHOOK_ALLOWED_NETWORKS: {exc}")
        raise  # unreachable: fail() exits
