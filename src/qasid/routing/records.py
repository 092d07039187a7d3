"""Connectors and routes as configured, and the pure route table built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ANY = "*"


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    id: str
    name: str
    kind: str
    channel: str
    config: str  # JSON, as validated by the kind
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    channel: str
    country: str
    operator: str
    prefix: str  # digits of the E.164 number, without "+"
    priority: int
    connector_id: str
    created_at: datetime

    def matches(self, channel: str, country: str, operator: str | None, digits: str) -> bool:
        return (
            self.channel == channel
            and self.country in (ANY, country)
            and self.operator in (ANY, operator)
            and digits.startswith(self.prefix)
        )

    def order(self) -> tuple[int, int, int, int, str]:
        """Lower priority number first; among equals, the more specific route."""
        return (
            self.priority,
            -len(self.prefix),
            0 if self.operator != ANY else 1,
            0 if self.country != ANY else 1,
            self.id,
        )


@dataclass(frozen=True)
class RouteTable:
    """Which connectors may carry a message, in the order to try them."""

    routes: tuple[Route, ...]
    enabled: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, routes: list[Route], connectors: list[ConnectorRecord]) -> RouteTable:
        enabled = frozenset(c.id for c in connectors if c.enabled)
        return cls(tuple(sorted(routes, key=Route.order)), enabled)

    def candidates(self, channel: str, country: str, operator: str | None, e164: str) -> list[str]:
        """Connector ids for a message, best first, each once."""
        digits = e164.lstrip("+")
        found: list[str] = []
        for route in self.routes:
            usable = route.connector_id in self.enabled and route.connector_id not in found
            if usable and route.matches(channel, country, operator, digits):
                found.append(route.connector_id)
        return found
