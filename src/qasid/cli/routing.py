"""``qasid connectors``, ``qasid routes`` and ``qasid simulator``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import typer

from qasid.channels import registry
from qasid.channels.simulator.connector import SimulatorConfig
from qasid.channels.simulator.store import inbox
from qasid.channels.smpp.connector import BindMode
from qasid.channels.smpp.receipts import IdFormat
from qasid.channels.smpp.text import LongMessages
from qasid.cli.common import fail, now, open_vault, settings, transaction
from qasid.domain.phone import normalize_e164
from qasid.routing import service
from qasid.routing.records import ANY
from qasid.routing.repository import RoutingRepository

connectors = typer.Typer(help="Links to carriers and providers.", no_args_is_help=True)
add = typer.Typer(help="Add a connector of a kind.", no_args_is_help=True)
connectors.add_typer(add, name="add")
routes = typer.Typer(help="Which connector carries what.", no_args_is_help=True)
simulator = typer.Typer(help="The built-in carrier simulator.", no_args_is_help=True)


def _add_connector(kind: str, name: str, config: dict[str, Any]) -> None:
    """Store a connector of ``kind`` (its config checked, its secrets sealed) and print its id."""
    vault = open_vault() if registry.kind_of(kind).secrets else None
    with transaction() as conn:
        record = service.add_connector(conn, kind, name, config, now(), vault=vault)
    typer.echo(record.id)


@add.command("simulator")
def add_simulator(
    name: str,
    *,
    latency_ms: Annotated[float, typer.Option(min=0, help="delay before each submit is answered")] = 0,
    tps: Annotated[float, typer.Option(min=0, help="submits per second at most; 0 for no limit")] = 0,
    report_delay_ms: Annotated[float, typer.Option(min=0, help="delay from submit to delivery report")] = 0,
    transient_failure_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    permanent_failure_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    undelivered_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    seed: Annotated[int | None, typer.Option(help="make the random failures repeatable")] = None,
) -> None:
    """The built-in carrier simulator (see docs/simulator.md for its fixed test numbers)."""
    config = SimulatorConfig(
        latency_ms=latency_ms,
        tps=tps,
        report_delay_ms=report_delay_ms,
        transient_failure_rate=transient_failure_rate,
        permanent_failure_rate=permanent_failure_rate,
        undelivered_rate=undelivered_rate,
        seed=seed,
    )
    _add_connector("simulator", name, msgspec.to_builtins(config))


@add.command("smpp")
def add_smpp(
    name: str,
    *,
    host: Annotated[str, typer.Option(help="the SMSC's host name or address")],
    port: Annotated[int, typer.Option(min=1, max=65535)] = 2775,
    system_id: Annotated[str, typer.Option(help="the account the SMSC gave you")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="asked for when left out")],
    system_type: Annotated[str, typer.Option()] = "",
    bind: Annotated[
        BindMode, typer.Option(help="one transceiver session, or a transmitter and a receiver")
    ] = (BindMode.TRANSCEIVER),
    binds: Annotated[int, typer.Option(min=1, max=32, help="sessions (or pairs) kept bound")] = 1,
    tls: Annotated[bool, typer.Option(help="connect with TLS")] = False,
    tls_verify: Annotated[bool, typer.Option(help="check the SMSC's certificate")] = True,
    tls_ca: Annotated[str | None, typer.Option(help="PEM file of authorities to trust for TLS")] = None,
    window: Annotated[int, typer.Option(min=1, help="submit_sm outstanding per session")] = 10,
    tps: Annotated[float, typer.Option(min=0, help="submit_sm per second for the connector; 0: no cap")] = 0,
    source_ton: Annotated[int | None, typer.Option(help="default: 5 for names, 1 for numbers")] = None,
    source_npi: Annotated[int | None, typer.Option(help="default: 0 for names, 1 for numbers")] = None,
    dest_ton: Annotated[int, typer.Option()] = 1,
    dest_npi: Annotated[int, typer.Option()] = 1,
    default_data_coding: Annotated[int, typer.Option(help="0 (GSM 03.38), 1 (IA5) or 3 (Latin-1)")] = 0,
    gsm_packed: Annotated[bool, typer.Option(help="pack GSM-7 septets (data_coding 0)")] = False,
    long_messages: Annotated[
        LongMessages, typer.Option(help="concatenate with a header, SAR TLVs, or payload")
    ] = (LongMessages.UDH),
    submit_id: Annotated[
        IdFormat, typer.Option(help="how the SMSC writes ids in submit_sm_resp")
    ] = IdFormat.TEXT,
    receipt_id: Annotated[IdFormat, typer.Option(help="how the SMSC writes ids in receipts")] = IdFormat.TEXT,
) -> None:
    """An SMSC over SMPP 3.4 (docs/smpp.md). The password is stored, never shown."""
    config = {
        "host": host, "port": port, "system_id": system_id, "password": password,
        "system_type": system_type, "bind": bind.value, "binds": binds, "tls": tls, "tls_verify": tls_verify,
        "tls_ca": tls_ca, "window": window, "tps": tps, "source_ton": source_ton, "source_npi": source_npi,
        "dest_ton": dest_ton, "dest_npi": dest_npi, "default_data_coding": default_data_coding,
        "gsm_packed": gsm_packed, "long_messages": long_messages.value, "submit_id": submit_id.value,
        "receipt_id": receipt_id.value,
    }  # fmt: skip
    _add_connector("smpp", name, config)


@add.command("whatsapp")
def add_whatsapp(
    name: str,
    *,
    phone_number_id: Annotated[str, typer.Option(help="the WhatsApp Business number's id")],
    token: Annotated[str, typer.Option(prompt=True, hide_input=True, help="a system user's access token")],
    app_secret: Annotated[str, typer.Option(prompt=True, hide_input=True, help="checks status webhooks")],
    verify_token: Annotated[str, typer.Option(prompt=True, hide_input=True, help="for Meta's handshake")],
    template: Annotated[str, typer.Option(help="the authentication template's name")] = "qasid_otp",
    api_version: Annotated[str, typer.Option(help="Graph API version")] = "v21.0",
    base_url: Annotated[str, typer.Option(help="Graph API address")] = "https://graph.facebook.com",
) -> None:
    """WhatsApp Cloud API: verification codes by authentication template (docs/verifications.md).
    Point the app's webhook at /webhooks/whatsapp/NAME. Secrets are asked for, stored, never shown."""
    config = {
        "phone_number_id": phone_number_id, "token": token, "app_secret": app_secret,
        "verify_token": verify_token, "template": template, "api_version": api_version, "base_url": base_url,
    }  # fmt: skip
    _add_connector("whatsapp", name, config)


@add.command("telegram")
def add_telegram(
    name: str,
    *,
    token: Annotated[str, typer.Option(prompt=True, hide_input=True, help="the Gateway API token")],
    callback_url: Annotated[
        str | None, typer.Option(help="this gateway's public /webhooks/telegram/NAME, for delivery reports")
    ] = None,
    check_send_ability: Annotated[bool, typer.Option(help="ask checkSendAbility before each send")] = False,
    sender_username: Annotated[str | None, typer.Option(help="a channel or bot to send from")] = None,
    base_url: Annotated[str, typer.Option(help="Gateway API address")] = "https://gatewayapi.telegram.org/",
) -> None:
    """Telegram Gateway API: verification codes from Telegram's Verification Codes account
    (docs/verifications.md). The token is asked for, stored, never shown."""
    config = {
        "token": token, "callback_url": callback_url, "check_send_ability": check_send_ability,
        "sender_username": sender_username, "base_url": base_url,
    }  # fmt: skip
    _add_connector("telegram", name, config)


@add.command("smsapi")
def add_smsapi(
    name: str,
    *,
    base_url: Annotated[str, typer.Option(help="the provider's API address, e.g. https://host/smsapi")],
    key: Annotated[str, typer.Option(prompt=True, hide_input=True, help="the API key of our account there")],
    callback_key: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="the key its delivery callbacks carry")
    ],
) -> None:
    """An upstream in the key/brandID provider's dialect, another Qasid's /smsapi included. Give the
    provider this gateway's public /webhooks/smsapi/NAME as the callback URL, with the callback key
    (docs/migrating/smsapi.md). The keys are asked for, stored, never shown."""
    config = {"base_url": base_url, "key": key, "callback_key": callback_key}
    _add_connector("smsapi", name, config)


@add.command("standingtech")
def add_standingtech(
    name: str,
    *,
    base_url: Annotated[str, typer.Option(help="the API's address, e.g. https://sms.standingtech.com")],
    key: Annotated[str, typer.Option(prompt=True, hide_input=True, help="the API key of our account there")],
    poll_seconds: Annotated[float, typer.Option(help="how often open messages are asked after")] = 30.0,
) -> None:
    """An upstream in StandingTech's SMS API v3, another Qasid's /standingtech included. v3 has no
    callbacks: the connector asks after each open message (docs/migrating/standingtech.md). The key
    is asked for, stored, never shown."""
    config = {"base_url": base_url, "key": key, "poll_seconds": poll_seconds}
    _add_connector("standingtech", name, config)


@add.command("otpiq")
def add_otpiq(
    name: str,
    *,
    base_url: Annotated[str, typer.Option(help="the API's address, e.g. https://api.otpiq.com/api")],
    key: Annotated[str, typer.Option(prompt=True, hide_input=True, help="the API key of our account there")],
    provider: Annotated[
        str, typer.Option(help="OTPIQ's provider option: whatsapp, whatsapp-sms, ...")
    ] = "whatsapp",
    callback_url: Annotated[
        str | None, typer.Option(help="this gateway's public /webhooks/otpiq/NAME, for delivery reports")
    ] = None,
    callback_secret: Annotated[
        str | None, typer.Option(help="24+ characters that sign the reports (with --callback-url)")
    ] = None,
) -> None:
    """An upstream in OTPIQ's dialect, another Qasid's /otpiq included: verification codes on the
    whatsapp channel (docs/migrating/otpiq.md). The key is asked for, stored, never shown."""
    config = {"base_url": base_url, "key": key, "provider": provider, "callback_url": callback_url,
              "callback_secret": callback_secret}  # fmt: skip
    _add_connector("otpiq", name, config)


@add.command("fullsms")
def add_fullsms(
    name: str,
    *,
    base_url: Annotated[str, typer.Option(help="the API's address, e.g. https://api.fullsms.com")],
    key: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="the API token of our account there")
    ],
) -> None:
    """An upstream in FullSMS's dialect, another Qasid's /fullsms included. FullSMS reports no
    delivery: its messages stay sent until they expire (docs/migrating/fullsms.md). The token is
    asked for, stored, never shown."""
    _add_connector("fullsms", name, {"base_url": base_url, "key": key})


@connectors.command("set")
def set_connector(
    connector: Annotated[str, typer.Argument(help="name or id")],
    settings: Annotated[list[str], typer.Argument(help="FIELD=VALUE ... (values are JSON, or text)")],
) -> None:
    """Change a connector's settings (e.g. window=50 tps=200 password=...); running gateways restart
    it with them within QASID_CONNECTORS_RELOAD_SECONDS."""
    changes = {}
    for item in settings:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            fail(f"{item!r} is not FIELD=VALUE")
        changes[field] = raw
    vault = open_vault()
    with transaction() as conn:
        kind = service.require_connector(conn, connector).kind
        changes = {field: _value(kind, field, raw) for field, raw in changes.items()}
        record = service.configure_connector(conn, connector, changes, now(), vault=vault)
    typer.echo(_shown(record.kind, record.config))


def _value(kind: str, field: str, raw: str) -> Any:
    """A setting as typed: JSON (50, true, {...}), or plain text. A text field takes digits as text
    (``password=123456``); quoted JSON text works there too."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw  # plain text: a host name, a password
    return raw if value is not None and not isinstance(value, str) and _is_text(kind, field) else value


def _is_text(kind: str, field: str) -> bool:
    """Whether ``field`` of ``kind``'s configuration holds text (or nothing)."""
    info = msgspec.inspect.type_info(registry.kind_of(kind).config_type)
    for found in info.fields if isinstance(info, msgspec.inspect.StructType) else ():
        if found.name == field:
            held = found.type.type if isinstance(found.type, msgspec.inspect.Metadata) else found.type
            types = held.types if isinstance(held, msgspec.inspect.UnionType) else (held,)
            return all(isinstance(t, msgspec.inspect.StrType | msgspec.inspect.NoneType) for t in types)
    return False


def _shown(kind: str, config: str) -> str:
    return msgspec.json.encode(registry.shown(kind, msgspec.json.decode(config))).decode()


@connectors.command("list")
def list_connectors() -> None:
    """Every connector: id, name, kind, state and configuration (secrets masked)."""
    with transaction() as conn:
        found = RoutingRepository(conn).connectors()
    plain = 0
    for c in found:
        shown = _shown(c.kind, c.config)
        typer.echo(f"{c.id}  {c.name:<20} {c.kind:<10} {'enabled' if c.enabled else 'disabled':<9} {shown}")
        plain += bool(registry.unsealed(c.kind, msgspec.json.decode(c.config)))
    if plain:
        typer.echo(f"{plain} connector(s) keep secrets stored plain; `qasid connectors seal` seals them")


@connectors.command("seal")
def seal_connectors() -> None:
    """Seal the secrets of connectors stored by a Qasid that did not seal them: each is stored
    again with its passwords and tokens encrypted under the server secret."""
    vault = open_vault()
    with transaction() as conn:
        found = [(c, registry.unsealed(c.kind, msgspec.json.decode(c.config)))
                 for c in RoutingRepository(conn).connectors()]  # fmt: skip
        plain = [(c, fields) for c, fields in found if fields]
        for c, fields in plain:
            service.configure_connector(conn, c.id, {}, now(), vault=vault)
            typer.echo(f"{c.name}: {', '.join(fields)}")
    typer.echo(f"sealed the secrets of {len(plain)} connector(s)")


@connectors.command("remove")
def remove_connector(connector: Annotated[str, typer.Argument(help="name or id")]) -> None:
    """Remove a connector no route uses."""
    with transaction() as conn:
        record = service.remove_connector(conn, connector)
    typer.echo(f"{record.name} removed")


def _enable(connector: str, enabled: bool) -> None:
    with transaction() as conn:
        record = service.require_connector(conn, connector)
        RoutingRepository(conn).set_enabled(record.id, enabled, now())
    typer.echo(f"{record.name} {'enabled' if enabled else 'disabled'}")


@connectors.command("enable")
def enable(connector: str) -> None:
    """Use the connector again."""
    _enable(connector, True)


@connectors.command("disable")
def disable(connector: str) -> None:
    """Stop using the connector (its routes are skipped) without removing it."""
    _enable(connector, False)


@connectors.command("kinds")
def list_kinds() -> None:
    """The kinds of connector this gateway has."""
    for name, kind in sorted(registry.kinds().items()):
        typer.echo(f"{name:<12} {kind.channel:<9} {kind.description}")


@routes.command("add")
def add_route(
    *,
    connector: Annotated[str, typer.Option(help="connector name or id")],
    channel: Annotated[
        str | None, typer.Option(help="sms, whatsapp or telegram; default: what the connector carries")
    ] = None,
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2, or *")] = ANY,
    operator: Annotated[str, typer.Option(help="operator (asiacell, zain, korek...), or *")] = ANY,
    prefix: Annotated[str, typer.Option(help="digits the international number starts with")] = "",
    priority: Annotated[int, typer.Option(help="lower goes first; failover goes to the next")] = 100,
) -> None:
    """Send matching messages through CONNECTOR."""
    with transaction() as conn:
        channel = channel or service.require_connector(conn, connector).channel
        route = service.add_route(
            conn, connector, now(), channel=channel, country=country, operator=operator, prefix=prefix,
            priority=priority,
        )  # fmt: skip
    typer.echo(route.id)


@routes.command("list")
def list_routes() -> None:
    """Every route, in the order they are tried."""
    with transaction() as conn:
        repo = RoutingRepository(conn)
        names = {c.id: c.name for c in repo.connectors()}
        found = repo.routes()
    for r in found:
        typer.echo(
            f"{r.id}  {r.priority:>4}  {r.channel:<8} {r.country:<2} {r.operator:<12} "
            f"{(r.prefix or '*'):<10} -> {names.get(r.connector_id, r.connector_id)}"
        )


@routes.command("remove")
def remove_route(route_id: str) -> None:
    """Remove one route."""
    with transaction() as conn:
        service.remove_route(conn, route_id)
    typer.echo("removed")


@simulator.command("inbox")
def simulator_inbox(
    to: Annotated[str | None, typer.Option(help="only this number")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """What the simulated phones received, newest first (a message sent twice shows twice)."""
    recipient = None
    if to is not None:
        recipient = normalize_e164(to, settings().default_region)
        if recipient is None:
            fail(f"{to!r} is not a phone number")
    with transaction() as conn:
        rows = inbox(conn, recipient=recipient, limit=limit)
    for r in rows:
        part = f" ({r.part}/{r.parts})" if r.parts > 1 else ""
        typer.echo(f"{r.received_at:%Y-%m-%d %H:%M:%S}  {r.recipient}  from {r.sender}{part}: {r.body}")
