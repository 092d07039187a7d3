"""Use cases about connectors and routes (the operator's ``qasid connectors`` / ``qasid routes``)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection

from qasid.billing.records import Channel
from qasid.channels import registry
from qasid.domain import ids
from qasid.domain.phone import operator_slug
from qasid.errors import InvalidRequest, NotFound
from qasid.routing.records import ANY, ConnectorRecord, Route, RouteTable
from qasid.routing.repository import RoutingRepository
from qasid.vault import Vault


def add_connector(
    conn: Connection,
    kind: str,
    name: str,
    config: dict[str, Any],
    now: datetime,
    *,
    vault: Vault | None = None,
) -> ConnectorRecord:
    """Store a connector, its configuration checked and its secrets sealed with ``vault`` (needed
    only by kinds that have secrets)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidRequest("a connector needs a name of 1 to 64 characters")
    repo = RoutingRepository(conn)
    if repo.connector(name) is not None:
        raise InvalidRequest(f"there is already a connector named {name!r}")
    record = ConnectorRecord(
        id=ids.new_id("con"),
        name=name,
        kind=kind,
        channel=registry.kind_of(kind).channel,
        config=_stored(kind, config, vault),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    repo.insert_connector(record)
    return record


def require_connector(conn: Connection, ref: str) -> ConnectorRecord:
    found = RoutingRepository(conn).connector(ref)
    if found is None:
        raise NotFound(f"no connector {ref!r}")
    return found


def configure_connector(
    conn: Connection, ref: str, changes: dict[str, Any], now: datetime, *, vault: Vault | None = None
) -> ConnectorRecord:
    """Change some of a connector's settings; the whole result is validated as its kind's
    configuration, so nothing is stored unless all of it holds, and stored with its secrets sealed
    (those stored plain before sealing too). A secret that is changed need not be openable, so a
    secret sealed under a lost server secret can be set again. Running gateways restart the
    connector with the new settings when they next reload."""
    record = require_connector(conn, ref)
    merged = {**msgspec.json.decode(record.config), **changes}
    stored = _stored(record.kind, merged, vault)
    RoutingRepository(conn).set_config(record.id, stored, now)
    return dataclasses.replace(record, config=stored, updated_at=now)


def _stored(kind: str, config: dict[str, Any], vault: Vault | None) -> str:
    """``config`` checked as ``kind``'s configuration, then as it is stored: JSON, secrets sealed."""
    checked = msgspec.to_builtins(registry.config_for(kind, config, vault))
    return msgspec.json.encode(registry.sealed(kind, checked, vault)).decode()


def remove_connector(conn: Connection, ref: str) -> ConnectorRecord:
    record = require_connector(conn, ref)
    repo = RoutingRepository(conn)
    if count := repo.routes_of(record.id):
        raise InvalidRequest(f"{count} route(s) still use {record.name!r}; remove them first")
    repo.delete_connector(record.id)
    return record


def add_route(
    conn: Connection,
    connector: str,
    now: datetime,
    *,
    channel: str = Channel.SMS.value,
    country: str = ANY,
    operator: str = ANY,
    prefix: str = "",
    priority: int = 100,
) -> Route:
    record = require_connector(conn, connector)
    prefix = prefix.lstrip("+")
    problems = []
    if channel != record.channel:
        problems.append({"field": "channel", "message": f"{record.name} carries {record.channel}"})
    if country != ANY and not (len(country) == 2 and country.isalpha()):
        problems.append({"field": "country", "message": "ISO 3166 alpha-2 code or *"})
    if prefix and not (prefix.isdigit() and len(prefix) <= 15):
        problems.append({"field": "prefix", "message": "up to 15 digits of the international number"})
    if problems:
        raise InvalidRequest("invalid route", errors=problems)
    route = Route(
        id=ids.new_id("rte"),
        channel=channel,
        country=country.upper(),
        operator=operator if operator == ANY else operator_slug(operator),
        prefix=prefix,
        priority=priority,
        connector_id=record.id,
        created_at=now,
    )
    RoutingRepository(conn).insert_route(route)
    return route


def remove_route(conn: Connection, route_id: str) -> None:
    if RoutingRepository(conn).delete_route(route_id) == 0:
        raise NotFound(f"no route {route_id!r}")


def route_table(conn: Connection) -> tuple[RouteTable, list[ConnectorRecord]]:
    repo = RoutingRepository(conn)
    records = repo.connectors()
    return RouteTable.build(repo.routes(), records), records
