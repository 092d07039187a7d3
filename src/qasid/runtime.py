"""What one process runs, for each way of running Qasid.

- ``qasid serve``: the API and a worker in one process (the embedded default);
- ``qasid api``: the API only; several can share one PostgreSQL;
- ``qasid worker``: the outbox only (dispatch, connectors, upkeep); several can share one database.

Every process has the database and its group-commit writer; in ``qasid serve`` the worker has a
writer of its own, so that a request's writes never wait in a transaction behind the outbox's
(claims, dispatch records, delivery reports: hundreds of rows a transaction under load). On
PostgreSQL the two write at once; on SQLite they take turns at its one lock, a transaction each,
and a request waits at most for the one being written. A worker registers itself, beats every
``heartbeat_seconds``, takes back the jobs of workers silent for ``worker_dead_after_seconds``, runs
the configured connectors and the dispatcher, and is woken by new work (in process, or by
PostgreSQL NOTIFY from other processes; otherwise it polls).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from anyio import to_thread
from sqlalchemy import text

import qasid.compat.smsapi.callbacks  # noqa: F401 - registers the smsapi webhook format in every process
from qasid.accounts.authenticator import Authenticator
from qasid.campaigns.front import QUEUED as CAMPAIGN_MADE
from qasid.campaigns.front import Campaigns
from qasid.campaigns.runner import CampaignRunner
from qasid.channels.base import Context
from qasid.contacts.front import Contacts
from qasid.contacts.importer import QUEUED, Importer
from qasid.db import Database, statistics
from qasid.db.writer import GroupCommitWriter
from qasid.domain import ids
from qasid.inbound.reading import InboundService
from qasid.inbound.service import WriterInboundSink
from qasid.messages.accept import PurgeIdempotency
from qasid.messages.dispatch import Dispatcher
from qasid.messages.reports import DatabaseOpenParts, WriterReportSink
from qasid.messages.service import MessageService
from qasid.migrations import pending
from qasid.optout.records import ListKind
from qasid.optout.service import ListService
from qasid.otp.codes import CodeBook
from qasid.otp.fallback import FallbackPolicy
from qasid.otp.service import ExpireVerifications, VerificationService
from qasid.outbox.maintenance import Beat, RegisterWorker, StopWorker
from qasid.outbox.records import RetryPolicy
from qasid.outbox.repository import JOBS_CHANNEL, WorkerRepository
from qasid.routing.links import Links
from qasid.senders.service import SenderIds
from qasid.server_secret import check, server_secret
from qasid.settings import Settings
from qasid.templates.service import Templates
from qasid.vault import Vault
from qasid.webhooks.events import HANDED, HANDOFF, PUBLISHED
from qasid.webhooks.guard import AddressPolicy
from qasid.webhooks.repository import WEBHOOKS_CHANNEL
from qasid.webhooks.sender import WebhookSender
from qasid.webhooks.service import Callbacks, WebhookService

log = structlog.get_logger(__name__)
PURGE_EVERY = timedelta(minutes=10)


class SchemaBehind(RuntimeError):
    """The database needs ``qasid migrate`` before this code can run against it."""


class Worker:
    """The outbox side of a process."""

    def __init__(
        self,
        db: Database,
        writer: GroupCommitWriter,
        settings: Settings,
        role: str,
        *,
        codes: CodeBook,
        vault: Vault,
    ) -> None:
        self.id = ids.new_id("wrk")
        self.db, self.writer, self.settings, self.role = db, writer, settings, role
        self.sink = WriterReportSink(writer)
        self.links = Links(
            db,
            Context(self.sink, db, writer, WriterInboundSink(writer), DatabaseOpenParts(db)),
            vault,
            reload_seconds=settings.connectors_reload_seconds,
        )
        self.sink.name_of = self.links.name_of
        self.dispatcher = Dispatcher(
            writer,
            self.id,
            self.links.route,
            batch=settings.dispatch_batch,
            max_in_flight=settings.dispatch_max_in_flight,
            idle_poll_seconds=settings.dispatch_idle_poll_seconds,
            report_grace=timedelta(seconds=settings.report_grace_seconds),
            retry=RetryPolicy(settings.retry_base_seconds, settings.retry_cap_seconds),
            codes=codes,
            fallback=FallbackPolicy(settings),
        )
        self.webhooks = WebhookSender(writer, self.id, settings, vault)
        self.importer = Importer(db, self.id)
        self.campaigns = CampaignRunner(db, self.id, settings, on_made=self.dispatcher.wake)
        self.woken_by(writer)
        self.last_beat: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._purged = datetime.min.replace(tzinfo=UTC)

    def woken_by(self, writer: GroupCommitWriter) -> None:
        """Wake the webhook sender, the importer and the campaign runner after ``writer`` commits new
        work for them (events published, an import queued, a campaign made), and hand the sender the
        deliveries ``writer`` wrote claimed by it."""
        writer.on_commit(PUBLISHED, lambda _: self.webhooks.wake())
        writer.on_commit(HANDED, self.webhooks.handed)
        writer.connection_info[HANDOFF] = self.webhooks
        writer.on_commit(QUEUED, lambda _: self.importer.wake())
        writer.on_commit(CAMPAIGN_MADE, lambda _: self.campaigns.wake())

    async def start(self) -> None:
        now = datetime.now(UTC)
        await self.writer.submit(RegisterWorker(self.id, self.role, socket.gethostname(), os.getpid(), now))
        await self.links.start()
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="qasid-dispatcher"),
            asyncio.create_task(self.webhooks.run(), name="qasid-webhooks"),
            asyncio.create_task(self.importer.run(), name="qasid-importer"),
            asyncio.create_task(self.campaigns.run(), name="qasid-campaigns"),
            asyncio.create_task(self._upkeep(), name="qasid-upkeep"),
        ]
        if not self.db.is_sqlite:
            self._tasks.append(asyncio.create_task(self._listen(), name="qasid-listen"))
        log.info("worker started", worker=self.id, role=self.role)

    async def stop(self) -> None:
        self.importer.stop()
        self.campaigns.stop()
        await self.dispatcher.stop()
        await self.webhooks.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.links.stop()
        await self.writer.submit(StopWorker(self.id, datetime.now(UTC)))
        log.info("worker stopped", worker=self.id)

    async def _upkeep(self) -> None:
        dead_after = timedelta(seconds=self.settings.worker_dead_after_seconds)
        while True:
            now = datetime.now(UTC)
            try:
                beat = Beat(self.id, now, dead_after, frozenset(self.dispatcher.in_flight))
                if recovered := await self.writer.submit(beat):
                    log.warning("took back the jobs of silent workers", jobs=recovered)
                    self.dispatcher.wake()
                    self.webhooks.wake()
                self.last_beat = now
                await self.writer.submit(ExpireVerifications(now))
                if now - self._purged > PURGE_EVERY:
                    cutoff = now - timedelta(hours=self.settings.idempotency_hours)
                    await self.writer.submit(PurgeIdempotency(cutoff))
                    self._purged = now
                if not self.db.is_sqlite and (analyzed := await to_thread.run_sync(self._refresh_statistics)):
                    log.info("refreshed PostgreSQL's statistics", tables=analyzed)
            except Exception as exc:  # noqa: BLE001 - upkeep must outlive a database outage
                log.warning("worker upkeep failed", error=repr(exc))
            await asyncio.sleep(self.settings.heartbeat_seconds)

    def _refresh_statistics(self) -> list[str]:
        with self.db.write() as conn:
            return statistics.refresh(conn)

    async def _listen(self) -> None:
        """PostgreSQL: wake the dispatcher (or the webhook sender) when any process commits new jobs
        (or deliveries)."""
        import psycopg  # noqa: PLC0415 - only PostgreSQL workers need the driver directly

        conninfo = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        wake = {JOBS_CHANNEL: self.dispatcher.wake, WEBHOOKS_CHANNEL: self.webhooks.wake}
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    for channel in wake:
                        await conn.execute(f"LISTEN {channel}")
                    async for notice in conn.notifies():
                        wake[notice.channel]()
            except Exception as exc:  # noqa: BLE001 - polling covers the gap; try again shortly
                log.warning("listening for new jobs failed; polling meanwhile", error=repr(exc))
                await asyncio.sleep(self.settings.heartbeat_seconds)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    writer: GroupCommitWriter
    authenticator: Authenticator
    messages: MessageService
    verifications: VerificationService
    webhooks: WebhookService
    inbound: InboundService
    stop_list: ListService
    block_list: ListService
    senders: SenderIds
    contacts: Contacts
    templates: Templates
    campaigns: Campaigns
    vault: Vault  # opens sealed secrets (connectors' credentials, webhook signing secrets)
    worker: Worker | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    async def start(cls, settings: Settings, *, role: str) -> Runtime:
        """``role``: serve (API and worker), api, or worker. Call on the event loop that will run it."""
        if problem := await to_thread.run_sync(pending, settings.database_url):
            raise SchemaBehind(problem)
        secret = server_secret(settings)  # a bad secret stops the start before anything runs
        codes, vault = CodeBook(secret), Vault(secret)
        db = Database.from_settings(settings)
        try:
            await to_thread.run_sync(_check_secret, db, settings, secret)  # so does another secret
        except BaseException:
            db.dispose()
            raise
        writer = _writer(db, settings)
        worker = None
        if role in ("serve", "worker"):
            own = _writer(db, settings, "qasid-worker-writer") if role == "serve" else writer  # module doc
            worker = Worker(db, own, settings, role, codes=codes, vault=vault)
            if own is not writer:
                worker.woken_by(writer)
        callbacks = Callbacks(AddressPolicy.of(settings.webhook_allowed_networks), vault)
        messages = MessageService(
            db, writer, settings, callbacks=callbacks, on_accepted=worker.dispatcher.wake if worker else None
        )
        verifications = VerificationService(db, writer, settings, messages, codes)
        webhooks = WebhookService(db, writer, callbacks)
        authenticator = Authenticator(db, settings.cache_seconds)
        runtime = cls(
            settings,
            db,
            writer,
            authenticator,
            messages,
            verifications,
            webhooks,
            InboundService(db, writer),
            ListService(db, writer, ListKind.STOP),
            ListService(db, writer, ListKind.BLOCK),
            SenderIds(db, writer),
            Contacts(db, writer, max_import_bytes=settings.max_import_bytes),
            Templates(db, writer),
            Campaigns(db, writer, settings),
            vault,
            worker,
        )
        if worker is not None:
            await worker.start()
        return runtime

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            if self.worker.writer is not self.writer:
                await self.worker.writer.stop()
        await self.writer.stop()
        self.db.dispose()

    async def readiness(self) -> dict[str, bool]:
        """Whether the database answers, and whether some worker is beating (this one, or another)."""
        dead_after = timedelta(seconds=self.settings.worker_dead_after_seconds)
        try:
            alive = await to_thread.run_sync(self._alive_workers, datetime.now(UTC) - dead_after)
        except Exception as exc:  # noqa: BLE001 - any failure means: not ready
            log.warning("readiness: database unreachable", error=repr(exc))
            return {"database": False, "dispatcher": False}
        return {"database": True, "dispatcher": alive > 0}

    def _alive_workers(self, cutoff: datetime) -> int:
        with self.db.read() as conn:
            conn.execute(text("SELECT 1"))
            return WorkerRepository(conn).alive_since(cutoff)


def _check_secret(db: Database, settings: Settings, secret: bytes) -> None:
    """The first process to start records the server secret's fingerprint; the others must match it."""
    with db.write() as conn:
        check(conn, settings, secret)


def _writer(db: Database, settings: Settings, name: str = "qasid-writer") -> GroupCommitWriter:
    writer = GroupCommitWriter(
        db,
        max_batch=settings.writer_max_batch,
        max_rows=settings.writer_max_rows,
        linger=settings.writer_linger_ms / 1000,
        name=name,
    )
    writer.start()
    return writer


async def run_worker(settings: Settings) -> None:
    """``qasid worker``: run the outbox until SIGINT or SIGTERM."""
    import signal  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = await Runtime.start(settings, role="worker")
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop()
