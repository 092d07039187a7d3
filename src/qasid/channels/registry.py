"""The kinds of connector there are, each with its typed configuration.

``qasid connectors add <kind> NAME ...`` stores a configuration that ``config_for`` validates into
the kind's msgspec struct; the dispatcher builds connectors with ``build``.

A kind's secret fields (passwords, tokens, at any depth: a WhatsApp connector's per-account tokens
too) are stored sealed by ``sealed`` (``{"sealed": "v1...."}``, ``qasid.vault``), so a database dump
or backup does not reveal them; ``config_for`` opens them. A value stored before sealing, plain, is
still read as it is (``qasid connectors seal`` seals it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from qasid.channels.base import Connector, Context
from qasid.errors import InvalidRequest
from qasid.vault import SealBroken, Vault

SEALED = "sealed"  # the key of a sealed value's one-entry object in a stored configuration


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


def config_for(kind: str, raw: str | bytes | dict[str, Any], vault: Vault | None = None) -> msgspec.Struct:
    """The validated configuration of a connector of ``kind``, its sealed secrets opened with
    ``vault`` (needed only when there are any)."""
    config_type = kind_of(kind).config_type
    try:
        data = raw if isinstance(raw, dict) else msgspec.json.decode(raw)
        return msgspec.convert(_opened(data, vault), config_type)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidRequest(f"invalid {kind} configuration: {exc}") from None


def sealed(kind: str, config: dict[str, Any], vault: Vault | None) -> dict[str, Any]:
    """``config`` as it is stored: each of the kind's secret fields that holds a value sealed."""

    def seal(path: str, plain: str) -> dict[str, str]:
        if vault is None:
            raise ValueError(f"storing a {kind} connector's {path} needs the vault")
        return {SEALED: vault.seal(plain)}

    return _plain_secrets(config, kind_of(kind).secrets, seal)  # type: ignore[no-any-return]


def unsealed(kind: str, config: dict[str, Any]) -> list[str]:
    """The secret fields of a stored ``config`` still held plain (stored before sealing), as paths."""
    found: list[str] = []

    def note(path: str, plain: str) -> str:
        found.append(path)
        return plain

    _plain_secrets(config, _secrets(kind), note)
    return found


def _plain_secrets(
    value: Any, secrets: tuple[str, ...], change: Callable[[str, str], Any], path: str = ""
) -> Any:
    """``value`` with ``change(path, text)`` in place of each secret field held as plain text, at any
    depth; sealed values are left as they are."""
    if not isinstance(value, dict) or _is_sealed(value):
        return value
    return {
        key: change(path + key, item)
        if key in secrets and isinstance(item, str) and item
        else _plain_secrets(item, secrets, change, f"{path}{key}.")
        for key, item in value.items()
    }


def _is_sealed(value: dict[str, Any]) -> bool:
    return len(value) == 1 and isinstance(value.get(SEALED), str)


def _opened(value: Any, vault: Vault | None) -> Any:
    if isinstance(value, dict):
        if _is_sealed(value):
            if vault is None:
                raise ValueError("opening a connector's sealed secret needs the vault")
            try:
                return vault.open(value[SEALED])
            except SealBroken:
                raise InvalidRequest(
                    "this server secret cannot open the connector's stored secrets (was "
                    "QASID_SECRET_KEY changed?); set them again with `qasid connectors set`"
                ) from None
        return {key: _opened(item, vault) for key, item in value.items()}
    return value


def shown(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as it may be printed: the kind's secret fields masked, at any depth (a WhatsApp
    connector's per-account tokens too), sealed or not."""
    secrets = _secrets(kind)

    def masked(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "********" if k in secrets and v else masked(v) for k, v in value.items()}
        return value

    return masked(config)  # type: ignore[no-any-return]


def _secrets(kind: str) -> tuple[str, ...]:
    """The secret fields of ``kind``; none for a kind this gateway does not know (a stored connector
    of a kind since removed is still listed)."""
    return kind_of(kind).secrets if kind in kinds() else ()


def build(kind: str, connector_id: str, name: str, config: msgspec.Struct, context: Context) -> Connector:
    return kind_of(kind).factory(connector_id, name, config, context)
