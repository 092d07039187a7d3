"""The connectors one worker runs, and the route table among them, kept in step with the database.

``qasid connectors add`` and ``qasid routes add`` write rows; every worker reloads them every few
seconds, starts connectors that appeared, and stops those that were removed or disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import structlog
from anyio import to_thread

from qasid.channels import registry
from qasid.channels.base import Connector, Context
from qasid.db import Database
from qasid.routing.records import ConnectorRecord, RouteTable
from qasid.routing.service import route_table
from qasid.vault import Vault

log = structlog.get_logger(__name__)


class Links:
    def __init__(self, db: Database, context: Context, vault: Vault, *, reload_seconds: float = 5.0) -> None:
        self.db = db
        self.context = context
        self.vault = vault  # opens the connectors' sealed secrets
        self.reload_seconds = reload_seconds
        self.table = RouteTable(())
        self.running: dict[str, tuple[ConnectorRecord, Connector]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._reload_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for record, connector in list(self.running.values()):
            await self._stop(record, connector)

    def route(self, message: Mapping[str, Any]) -> list[Connector]:
        ids = self.table.candidates(
            message["channel"], message["country"], message["operator"], message["recipient"]
        )
        return [self.running[i][1] for i in ids if i in self.running]

    def name_of(self, connector_id: str) -> str:
        found = self.running.get(connector_id)
        return found[0].name if found else connector_id

    async def reload(self) -> None:
        table, records = await to_thread.run_sync(self._read)
        wanted = {record.id: record for record in records if record.enabled}
        for connector_id, (record, connector) in list(self.running.items()):
            if wanted.get(connector_id) != record:
                await self._stop(record, connector)
        for connector_id, record in wanted.items():
            if connector_id not in self.running:
                await self._start(record)
        self.table = table

    def _read(self) -> tuple[RouteTable, list[ConnectorRecord]]:
        with self.db.read() as conn:
            return route_table(conn)

    async def _start(self, record: ConnectorRecord) -> None:
        try:
            config = registry.config_for(record.kind, record.config, self.vault)
            connector = registry.build(record.kind, record.id, record.name, config, self.context)
            await connector.start()
        except Exception as exc:  # noqa: BLE001 - one broken connector must not stop the others
            log.error("connector failed to start", connector=record.name, error=repr(exc))
            return
        self.running[record.id] = (record, connector)
        log.info("connector started", connector=record.name, kind=record.kind)

    async def _stop(self, record: ConnectorRecord, connector: Connector) -> None:
        self.running.pop(record.id, None)
        try:
            await connector.stop()
        except Exception as exc:  # noqa: BLE001 - stopping the others matters more
            log.warning("connector failed to stop cleanly", connector=record.name, error=repr(exc))
        log.info("connector stopped", connector=record.name)

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                await self.reload()
            except Exception as exc:  # noqa: BLE001 - keep the last good table until the database answers
                log.warning("reloading connectors failed", error=repr(exc))
