"""All SQL about connectors and routes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update

from qasid.models import connectors, routes
from qasid.routing.records import ConnectorRecord, Route


def _connector(row: RowMapping) -> ConnectorRecord:
    return ConnectorRecord(**{name: row[name] for name in ConnectorRecord.__slots__})


def _route(row: RowMapping) -> Route:
    return Route(**{name: row[name] for name in Route.__slots__})


class RoutingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_connector(self, record: ConnectorRecord) -> None:
        self.conn.execute(
            insert(connectors).values({n: getattr(record, n) for n in ConnectorRecord.__slots__})
        )

    def connector(self, ref: str) -> ConnectorRecord | None:
        """By id or name."""
        query = select(connectors).where((connectors.c.id == ref) | (connectors.c.name == ref))
        row = self.conn.execute(query).mappings().first()
        return _connector(row) if row else None

    def connectors(self) -> list[ConnectorRecord]:
        return [
            _connector(row)
            for row in self.conn.execute(select(connectors).order_by(connectors.c.name)).mappings()
        ]

    def set_enabled(self, connector_id: str, enabled: bool, now: datetime) -> None:
        self.conn.execute(
            update(connectors).where(connectors.c.id == connector_id).values(enabled=enabled, updated_at=now)
        )

    def set_config(self, connector_id: str, config: str, now: datetime) -> None:
        self.conn.execute(
            update(connectors).where(connectors.c.id == connector_id).values(config=config, updated_at=now)
        )

    def delete_connector(self, connector_id: str) -> None:
        self.conn.execute(delete(connectors).where(connectors.c.id == connector_id))

    def routes_of(self, connector_id: str) -> int:
        query = select(func.count()).select_from(routes).where(routes.c.connector_id == connector_id)
        return int(self.conn.execute(query).scalar_one())

    def insert_route(self, route: Route) -> None:
        self.conn.execute(insert(routes).values({n: getattr(route, n) for n in Route.__slots__}))

    def routes(self) -> list[Route]:
        query = select(routes).order_by(routes.c.priority, routes.c.id)
        return [_route(row) for row in self.conn.execute(query).mappings()]

    def delete_route(self, route_id: str) -> int:
        return int(self.conn.execute(delete(routes).where(routes.c.id == route_id)).rowcount)
