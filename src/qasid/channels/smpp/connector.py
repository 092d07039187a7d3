"""The SMPP connector: messages out as submit_sm over one or more binds, receipts back.

Each of the connector's ``binds`` is one transceiver session, or a transmitter and a receiver
(``bind``), kept up by its own task: it binds, and after any loss of the link binds again after a
backoff with jitter (``reconnect_min_seconds`` doubling to ``reconnect_max_seconds``; a bind lost
within ``STABLE_SECONDS`` counts as failed, so an SMSC that drops every bind is not hammered). ``submit``
takes the next bound transmitting session in turn, waiting up to ``response_timeout`` for one.

A message goes as one submit_sm per part (``text.encode_message``: UDH, SAR or message_payload).
Its parts' message ids become the carrier ids its receipts are matched by. What the SMSC answers
decides the message's fate:

- no answer (the link dropped, or no response within ``response_timeout``): ``TransientError``, so
  the message is retried; a part the SMSC took before the link dropped is then sent twice (no
  SMSC answers "did you get sequence N?"), which is the usual price of not losing it;
- ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL``: the session pauses, and the message is retried;
- the other statuses that say "not now" (``TRANSIENT``), and codes SMPP 3.4 does not name (vendor
  codes), are retried; every other status fails the message with the status's name as its code.

Senders: an alphanumeric sender goes with TON 5 (alphanumeric) NPI 0, a number with TON 1
(international) NPI 1, unless the connector sets ``source_ton``/``source_npi``. Destinations are
E.164 without the "+", TON/NPI ``dest_ton``/``dest_npi`` (1/1). The validity period is the message's
own expiry, as an absolute SMPP time.

Receipts are handed to the report path (``ReportSink``) and acknowledged once it recorded them; if
it cannot (the database is away) the SMSC is told ``ESME_RX_T_APPN`` and sends them again later.
Inbound messages go to the ``InboundSink`` the same way.

The password is kept in the connector's stored configuration and never logged; ``qasid connectors
list`` shows it masked (``registry.ConnectorKind.secrets``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

import msgspec
import structlog
from msgspec import Meta

from qasid.channels.base import (
    Connector,
    Context,
    DeliveryReport,
    Inbound,
    InboundSink,
    Outbound,
    PermanentError,
    ReportSink,
    Submitted,
    TransientError,
)
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.inbound import read_inbound
from qasid.channels.smpp.receipts import IdFormat, canonical, is_receipt, read_receipt
from qasid.channels.smpp.session import BindRefused, Endpoint, LinkError, Session, Timing
from qasid.channels.smpp.text import DataCoding, LongMessages, encode_message

log = structlog.get_logger(__name__)
T = TypeVar("T")

TRANSIENT = frozenset(
    {
        P.Status.ESME_RTHROTTLED,
        P.Status.ESME_RMSGQFUL,
        P.Status.ESME_RSYSERR,
        P.Status.ESME_RX_T_APPN,
        P.Status.ESME_RSUBMITFAIL,
        P.Status.ESME_RINVBNDSTS,
        P.Status.ESME_RUNKNOWNERR,
    }
)
TON_INTERNATIONAL, TON_ALPHANUMERIC, NPI_ISDN = 1, 5, 1
STABLE_SECONDS = 30.0  # a bind lost sooner than this counts as a failed one for the backoff


class BindMode(StrEnum):
    TRANSCEIVER = "transceiver"
    SPLIT = "transmitter+receiver"


Octet = Annotated[int, Meta(ge=0, le=255)]
Seconds = Annotated[float, Meta(gt=0, le=3600)]


class SmppConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: Annotated[str, Meta(min_length=1)]
    port: Annotated[int, Meta(ge=1, le=65535)] = 2775
    system_id: Annotated[str, Meta(min_length=1, max_length=15)]
    password: Annotated[str, Meta(max_length=8)] = ""
    system_type: Annotated[str, Meta(max_length=12)] = ""
    bind: BindMode = BindMode.TRANSCEIVER
    binds: Annotated[int, Meta(ge=1, le=32, description="sessions (or pairs) kept bound")] = 1
    tls: bool = False
    tls_verify: bool = True
    tls_ca: str | None = None  # a PEM file of the authorities to trust (default: the system's)
    window: Annotated[int, Meta(ge=1, le=10_000, description="submit_sm outstanding per session")] = 10
    tps: Annotated[float, Meta(ge=0, description="submit_sm per second for the connector; 0: no cap")] = 0
    source_ton: Octet | None = None
    source_npi: Octet | None = None
    dest_ton: Octet = TON_INTERNATIONAL
    dest_npi: Octet = NPI_ISDN
    default_data_coding: Literal[0, 1, 3] = 0
    gsm_packed: bool = False
    long_messages: LongMessages = LongMessages.UDH
    registered_delivery: bool = True
    submit_id: IdFormat = IdFormat.TEXT
    receipt_id: IdFormat = IdFormat.TEXT
    enquire_link_seconds: Seconds = 30.0
    response_timeout: Seconds = 10.0
    throttle_pause_seconds: Seconds = 1.0
    reconnect_min_seconds: Seconds = 1.0
    reconnect_max_seconds: Seconds = 60.0


class _Link:
    """One bind (a session of one kind) kept up for as long as the connector runs."""

    def __init__(self, connector: SmppConnector, command: P.Command, label: str) -> None:
        self.connector = connector
        self.command = command
        self.label = label
        self.session: Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def transmits(self) -> bool:
        return self.command != P.Command.BIND_RECEIVER

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"smpp-{self.label}")

    async def stop(self) -> None:
        self._stopping = True
        if self.session is not None:
            await self.session.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        config = self.connector.config
        delay = config.reconnect_min_seconds
        while not self._stopping:
            session = self.connector.new_session(self.command)
            try:
                await session.open()
            except (BindRefused, LinkError, OSError, ssl.SSLError) as exc:
                log.warning(
                    "smpp bind failed", connector=self.connector.name, link=self.label, error=str(exc),
                    retry_in=round(delay, 1),
                )  # fmt: skip
                delay = await self._back_off(delay)
                continue
            bound_at = time.monotonic()
            self.session = session
            self.connector.link_changed()
            log.info("smpp bound", connector=self.connector.name, link=self.label, smsc=session.system_id)
            await session.lost.wait()
            self.session = None
            self.connector.link_changed()
            if time.monotonic() - bound_at >= STABLE_SECONDS:
                delay = config.reconnect_min_seconds  # a link that held: bind again at once
            elif not self._stopping:  # one that fell at once: do not hammer the SMSC
                delay = await self._back_off(delay)

    async def _back_off(self, delay: float) -> float:
        """Wait ``delay`` (with jitter); the next wait is twice as long, up to the maximum."""
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret
        return min(delay * 2, self.connector.config.reconnect_max_seconds)


class SmppConnector(Connector):
    kind = "smpp"

    def __init__(
        self, connector_id: str, name: str, config: SmppConfig, *, reports: ReportSink, inbound: InboundSink
    ) -> None:
        super().__init__(connector_id, name)
        self.config = config
        self.reports = reports
        self.inbound = inbound
        self.links: list[_Link] = []
        self._turn = itertools.count()
        self._references = itertools.count(random.randrange(0x10000))  # noqa: S311 - a concatenation reference
        self._ready = asyncio.Event()
        self._tls = _tls_context(config) if config.tls else None

    async def start(self) -> None:
        commands = (
            [P.Command.BIND_TRANSCEIVER]
            if self.config.bind == BindMode.TRANSCEIVER
            else [P.Command.BIND_TRANSMITTER, P.Command.BIND_RECEIVER]
        )
        self.links = [
            _Link(self, command, f"{index}-{P.Command(command).name.lower().removeprefix('bind_')}")
            for index in range(self.config.binds)
            for command in commands
        ]
        for link in self.links:
            link.start()

    async def stop(self) -> None:
        await asyncio.gather(*(link.stop() for link in self.links))

    def new_session(self, command: P.Command) -> Session:
        bind = P.Bind(command_id=command, system_id=self.config.system_id, password=self.config.password,
                      system_type=self.config.system_type)  # fmt: skip
        timing = Timing(
            window=self.config.window,
            tps=self.config.tps / self.config.binds,
            enquire_link_seconds=self.config.enquire_link_seconds,
            response_timeout=self.config.response_timeout,
            throttle_pause=self.config.throttle_pause_seconds,
        )
        handler = self._on_requests if command != P.Command.BIND_TRANSMITTER else None
        return Session(Endpoint(self.config.host, self.config.port, self._tls), bind, timing, handler)

    @property
    def ready(self) -> bool:
        """Some link can send now."""
        return self._ready.is_set()

    def link_changed(self) -> None:
        if any(link.transmits and link.session is not None for link in self.links):
            self._ready.set()
        else:
            self._ready.clear()

    async def submit(self, message: Outbound) -> Submitted:
        session = await self._session()
        encoded = encode_message(
            message.parts, message.encoding, default_data_coding=DataCoding(self.config.default_data_coding),
            gsm_packed=self.config.gsm_packed, long_messages=self.config.long_messages,
            reference=next(self._references),
        )  # fmt: skip
        source_ton, source_npi, source = self._source(message.sender)
        validity = _smpp_time(message.expires_at)
        carrier_ids = []
        for part in encoded.parts:
            pdu = P.ShortMessage(
                command_id=P.Command.SUBMIT_SM, source_addr_ton=source_ton, source_addr_npi=source_npi,
                source_addr=source, dest_addr_ton=self.config.dest_ton, dest_addr_npi=self.config.dest_npi,
                destination_addr=message.recipient.removeprefix("+"), esm_class=part.esm_class,
                validity_period=validity, registered_delivery=int(self.config.registered_delivery),
                data_coding=encoded.data_coding, short_message=part.short_message, tlvs=part.tlvs,
            )  # fmt: skip
            carrier_ids.append(await self._submit_part(session, pdu))
        return Submitted(tuple(carrier_ids))

    async def _session(self) -> Session:
        for _ in range(len(self.links) + 1):
            candidates = [link.session for link in self.links if link.transmits and link.session is not None]
            if candidates:
                return candidates[next(self._turn) % len(candidates)]
            try:
                await asyncio.wait_for(self._ready.wait(), self.config.response_timeout)
            except TimeoutError:
                break
        raise TransientError("SMPP_NOT_BOUND", f"no bound link to {self.config.host}:{self.config.port}")

    async def _submit_part(self, session: Session, pdu: P.ShortMessage) -> str:
        try:
            response = await session.request(pdu)
        except LinkError as exc:
            raise TransientError("SMPP_LINK", str(exc)) from None
        if (
            response.status == P.Status.ESME_ROK
            and isinstance(response, P.MessageIdResp)
            and response.message_id
        ):
            return canonical(response.message_id, self.config.submit_id)
        name = P.status_name(response.status)
        if response.status == P.Status.ESME_ROK:
            raise TransientError("SMPP_NO_ID", "the SMSC accepted the part without a message id")
        if response.status in TRANSIENT or response.status not in P.Status.__members__.values():
            raise TransientError(name, f"the SMSC answered {name}")
        raise PermanentError(name, f"the SMSC refused the message: {name}")

    def _source(self, sender: str) -> tuple[int, int, str]:
        numeric = sender.removeprefix("+").isdigit()
        ton = self.config.source_ton if self.config.source_ton is not None else (
            TON_INTERNATIONAL if numeric else TON_ALPHANUMERIC
        )  # fmt: skip
        npi = self.config.source_npi if self.config.source_npi is not None else (NPI_ISDN if numeric else 0)
        return ton, npi, sender.removeprefix("+") if numeric else sender

    async def _on_requests(self, batch: list[P.Pdu]) -> list[int]:
        """What to answer each deliver_sm or data_sm: receipts and inbound messages are each
        recorded in one go, and acknowledged once recorded."""
        statuses: list[int] = [P.Status.ESME_ROK] * len(batch)
        reports: list[tuple[int, DeliveryReport]] = []
        inbound: list[tuple[int, Inbound]] = []
        now = datetime.now(UTC)
        for index, pdu in enumerate(batch):
            if not isinstance(pdu, P.ShortMessage | P.DataSm):
                statuses[index] = P.Status.ESME_RINVCMDID
            elif not is_receipt(pdu.esm_class):
                inbound.append((index, read_inbound(self.id, pdu, gsm_packed=self.config.gsm_packed)))
            elif (receipt := read_receipt(pdu)) is None:  # acknowledged: sent again, it would read the same
                log.warning("an unreadable delivery receipt was dropped", connector=self.name)
            else:
                carrier_id = canonical(receipt.message_id, self.config.receipt_id)
                report = DeliveryReport(
                    self.id, carrier_id, receipt.status, receipt.error_code, receipt.raw, now
                )
                reports.append((index, report))
        await self._record(statuses, reports, self.reports.deliver, "delivery receipts")
        await self._record(statuses, inbound, self.inbound.receive, "inbound messages")
        return statuses

    async def _record(
        self,
        statuses: list[int],
        items: list[tuple[int, T]],
        store: Callable[[list[T]], Awaitable[None]],
        what: str,
    ) -> None:
        """Store ``items``; if that fails, their PDUs are answered "try again later" (the SMSC keeps
        them and sends them again)."""
        if not items:
            return
        try:
            await store([item for _, item in items])
        except Exception as exc:  # noqa: BLE001 - whatever failed, the SMSC must not forget them
            log.warning(
                f"{what} could not be recorded", connector=self.name, count=len(items), error=repr(exc)
            )
            for index, _ in items:
                statuses[index] = P.Status.ESME_RX_T_APPN


def _smpp_time(moment: datetime) -> str:
    """An absolute time in SMPP 3.4 §7.1.1 form, in UTC: YYMMDDhhmmss, tenths, quarter hours, +."""
    return moment.astimezone(UTC).strftime("%y%m%d%H%M%S") + "000+"


def _tls_context(config: SmppConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.tls_ca)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _build(connector_id: str, name: str, config: SmppConfig, context: Context) -> Connector:
    return SmppConnector(connector_id, name, config, reports=context.reports, inbound=context.inbound)


register(
    ConnectorKind(
        name="smpp",
        channel="sms",
        config_type=SmppConfig,
        factory=_build,
        description="an SMSC over SMPP 3.4 (TCP or TLS)",
        secrets=("password",),
    )
)
