"""The kinds of connector there are, each with its typed configuration.

``qasid connectors add <kind> NAME ...`` stores a configuration that ``config_for`` validates into
the kind's msgspec struct; the dispatcher builds connectors with ``build``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from qasid.channels.base import Connector, Context
from qasid.errors import InvalidRequest


@dataclass(frozen=True)
class ConnectorKind:
    name: str
    channel: str
    config_type: type[msgspec.Struct]
    factory: Callable[[str, str, Any, Context], Connector]  # (connector_id, name, config, context)
    description: str
    secrets: tuple[str, ...] = ()  # configuration fields never shown (passwords, tokens)


_KINDS: dict[str, ConnectorKind] = {}
# The kinds that ship with Qasid; each module registers its kind when imported.
BUILTIN = (
    "qasid.channels.simulator.connector",
    "qasid.channels.smpp.connector",
    "qasid.channels.whatsapp.connector",
    "qasid.channels.telegram.connector",
    "qasid.channels.upstream.smsapi",
    "qasid.channels.upstream.standingtech",
    "qasid.channels.upstream.otpiq",
    "qasid.channels.upstream.fullsms",
)


def register(kind: ConnectorKind) -> None:
    _KINDS[kind.name] = kind


def kinds() -> dict[str, ConnectorKind]:
    _load_builtin()
    return dict(_KINDS)


def _load_builtin() -> None:
    for module in BUILTIN:
        importlib.import_module(module)


def kind_of(name: str) -> ConnectorKind:
    _load_builtin()
    try:
        return _KINDS[name]
    except KeyError:
        known = ", ".join(sorted(_KINDS))
        raise InvalidRequest(f"unknown connector kind {name!r}; known: {known}") from None


def config_for(kind: str, raw: str | bytes | dict[str, Any]) -> msgspec.Struct:
    """The validated configuration of a connector of ``kind``."""
    config_type = kind_of(kind).config_type
    try:
        if isinstance(raw, dict):
            return msgspec.convert(raw, config_type)
        return msgspec.json.decode(raw, type=config_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid {kind} configuration: {exc}") from None


def shown(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as it may be printed: the kind's secret fields masked, at any depth (a WhatsApp
    connector's per-account tokens too)."""
    secrets = kind_of(kind).secrets if kind in kinds() else ()

    def masked(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "********" if k in secrets and v else masked(v) for k, v in value.items()}
        return value

    return masked(config)  # type: ignore[no-any-return]


def build(kind: str, connector_id: str, name: str, config: msgspec.Struct, context: Context) -> Connector:
    return kind_of(kind).factory(connector_id, name, config, context)
