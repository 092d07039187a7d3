"""The carrier simulator.

It takes messages like an SMSC: after ``latency_ms``, at most ``tps`` a second, it records every
part in its inbox (``simulator_inbox``, durable before it answers, duplicates included) and returns
a carrier id per part; ``report_delay_ms`` later it sends a delivery report per part, written as an
SMPP 3.4 Appendix B receipt and handed to the same report path a real carrier's receipts take.
Reports still owed when the process stops are sent after it starts again.

What happens to a message is decided by its number. These fixed test numbers always behave the same:

| number          | what happens                                                           |
| --------------- | ---------------------------------------------------------------------- |
| +9647700000001  | delivered                                                              |
| +9647700000002  | refused at submit, permanently (``ESME_RINVDSTADR``): ends ``failed``  |
| +9647700000003  | taken, then reported undelivered (``UNDELIV``)                         |
| +9647700000004  | taken and never reported: the message expires at the end of validity   |
| +9647700000005  | taken, then reported rejected (``REJECTD``)                            |
| +9647700000006  | refused at submit, transiently (``ESME_RTHROTTLED``): retried          |

Every other number is delivered, unless the configured failure rates (drawn per message, from
``seed`` when one is set) say otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import msgspec
import structlog
from msgspec import Meta

from qasid.channels.base import (
    Connector,
    Context,
    DeliveryReport,
    Outbound,
    PermanentError,
    ReportSink,
    Submitted,
    TransientError,
)
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.simulator.store import Received, SimulatorStore
from qasid.domain.ids import random_hex
from qasid.domain.states import MessageStatus, from_smpp_stat

log = structlog.get_logger(__name__)
Rate = Annotated[float, Meta(ge=0, le=1)]
REPORT_BATCH = 1000  # reports handed to the report path at once, at most


class SimulatorConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    latency_ms: Annotated[float, Meta(ge=0, description="delay before each submit is answered")] = 0
    tps: Annotated[float, Meta(ge=0, description="submits per second at most; 0 for no limit")] = 0
    report_delay_ms: Annotated[float, Meta(ge=0, description="delay from submit to delivery report")] = 0
    transient_failure_rate: Rate = 0.0
    permanent_failure_rate: Rate = 0.0
    undelivered_rate: Rate = 0.0
    seed: int | None = None


class Fate(StrEnum):
    DELIVERED = "DELIVRD"
    UNDELIVERED = "UNDELIV"
    REJECTED = "REJECTD"
    SILENT = "none"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


TEST_NUMBERS = {
    "+9647700000001": Fate.DELIVERED,
    "+9647700000002": Fate.PERMANENT,
    "+9647700000003": Fate.UNDELIVERED,
    "+9647700000004": Fate.SILENT,
    "+9647700000005": Fate.REJECTED,
    "+9647700000006": Fate.TRANSIENT,
}
_ERROR = {Fate.DELIVERED: "000", Fate.UNDELIVERED: "001", Fate.REJECTED: "002"}


class Simulator(Connector):
    kind = "simulator"

    def __init__(
        self,
        connector_id: str,
        name: str,
        config: SimulatorConfig,
        *,
        reports: ReportSink,
        store: SimulatorStore,
    ) -> None:
        super().__init__(connector_id, name)
        self.config = config
        self.reports = reports
        self.store = store
        self._random = random.Random(config.seed)  # noqa: S311 - simulated failures, not secrets
        self._next_slot = 0.0
        self._due: list[tuple[datetime, int, Received]] = []  # a heap: reports owed, soonest first
        self._order = itertools.count()
        self._more = asyncio.Event()
        self._reported: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for received in await self.store.pending(self.id):
            self._schedule(received)
        self._tasks = [
            asyncio.create_task(self._report_forever(), name=f"simulator-{self.name}-reports"),
            asyncio.create_task(self._flush_reported_forever(), name=f"simulator-{self.name}-inbox"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush_reported()

    async def submit(self, message: Outbound) -> Submitted:
        await self._throttle()
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        fate = self._fate(message.recipient)
        if fate == Fate.TRANSIENT:
            raise TransientError("ESME_RTHROTTLED", "the simulator is throttling this number")
        if fate == Fate.PERMANENT:
            raise PermanentError("ESME_RINVDSTADR", "the simulator refuses this destination")
        now = datetime.now(UTC)
        report_at = None if fate == Fate.SILENT else now + timedelta(milliseconds=self.config.report_delay_ms)
        received = [
            Received(
                connector_id=self.id, carrier_id=random_hex(32), message_id=message.message_id,
                account_id=message.account_id, recipient=message.recipient, sender=message.sender,
                body=text, part=index, parts=len(message.parts), outcome=fate.value, report_at=report_at,
                received_at=now,
            )
            for index, text in enumerate(message.parts, start=1)
        ]  # fmt: skip
        await self.store.record(received)
        for part in received:
            self._schedule(part)
        return Submitted(tuple(part.carrier_id for part in received))

    def _fate(self, recipient: str) -> Fate:
        if recipient in TEST_NUMBERS:
            return TEST_NUMBERS[recipient]
        draw = self._random.random()
        for fate, rate in (
            (Fate.TRANSIENT, self.config.transient_failure_rate),
            (Fate.PERMANENT, self.config.permanent_failure_rate),
            (Fate.UNDELIVERED, self.config.undelivered_rate),
        ):
            if draw < rate:
                return fate
            draw -= rate
        return Fate.DELIVERED

    async def _throttle(self) -> None:
        if not self.config.tps:
            return
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1 / self.config.tps
        if slot > now:
            await asyncio.sleep(slot - now)

    def _schedule(self, received: Received) -> None:
        if received.report_at is None or received.outcome == Fate.SILENT:
            return
        heapq.heappush(self._due, (received.report_at, next(self._order), received))
        self._more.set()

    async def _report_forever(self) -> None:
        """Send the reports that are due, as many at a time as are due (as an SMSC does on a busy
        link); a batch that cannot be recorded is offered again a second later."""
        while True:
            if not self._due:
                self._more.clear()
                await self._more.wait()
                continue
            wait = (self._due[0][0] - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self._more.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._more.wait(), wait)
                continue
            now = datetime.now(UTC)
            batch: list[Received] = []
            while self._due and self._due[0][0] <= now and len(batch) < REPORT_BATCH:
                batch.append(heapq.heappop(self._due)[2])
            try:
                await self.reports.deliver(_receipts(self.id, batch, now))
            except Exception as exc:  # noqa: BLE001 - a report that cannot be recorded is sent again later
                log.warning("simulator reports not recorded; will retry", reports=len(batch), error=repr(exc))
                for received in batch:
                    self._schedule(replace(received, report_at=now + timedelta(seconds=1)))
                continue
            self._reported.extend(received.carrier_id for received in batch)

    async def _flush_reported_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self._flush_reported()

    async def _flush_reported(self) -> None:
        """Mark sent reports in the inbox in one write; after a crash a few may be sent twice."""
        if self._reported:
            carrier_ids, self._reported = self._reported, []
            await self.store.mark_reported(carrier_ids, datetime.now(UTC))


def _receipts(connector_id: str, batch: list[Received], now: datetime) -> list[DeliveryReport]:
    done = f"{now:%y%m%d%H%M}"
    submitted: dict[datetime, str] = {}  # parts of one submit share its time: format it once
    reports = []
    for received in batch:
        if (submit := submitted.get(received.received_at)) is None:
            submit = submitted[received.received_at] = f"{received.received_at:%y%m%d%H%M}"
        stat = Fate(received.outcome)
        raw = (
            f"id:{received.carrier_id} sub:001 dlvrd:{'001' if stat == Fate.DELIVERED else '000'} "
            f"submit date:{submit} done date:{done} stat:{stat.value} err:{_ERROR.get(stat, '000')} "
            f"text:{received.body[:20]}"
        )
        status = from_smpp_stat(stat.value)
        error = None if status == MessageStatus.DELIVERED else _ERROR.get(stat)
        reports.append(DeliveryReport(connector_id, received.carrier_id, status, error, raw, now))
    return reports


def _build(connector_id: str, name: str, config: SimulatorConfig, context: Context) -> Simulator:
    store = SimulatorStore(context.db, context.writer)
    return Simulator(connector_id, name, config, reports=context.reports, store=store)


register(
    ConnectorKind(
        name="simulator",
        channel="sms",
        config_type=SimulatorConfig,
        factory=_build,
        description="the built-in carrier simulator (no network)",
    )
)
