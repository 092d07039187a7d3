"""What every connector is and exchanges.

    ConnectorError
    ├── TransientError   retry later, or try the next route (throttled, link down, timeout)
    └── PermanentError   this message cannot go (invalid destination, barred): it fails with ``code``

A connector takes an ``Outbound`` message and returns the carrier's id for each of its parts once the
carrier has taken it (``Submitted``). What the carrier later says about those parts comes back as
``DeliveryReport``s handed to the ``ReportSink`` it was given, which returns once they are durably
recorded (a connector acknowledges a report to its carrier only then). Messages from phones go the
same way to the ``InboundSink``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from qasid.domain.states import MessageStatus

if TYPE_CHECKING:
    from qasid.db import Database
    from qasid.db.writer import GroupCommitWriter


@dataclass(frozen=True, slots=True)
class OneTimeCode:
    """A verification's code, for channels that deliver a code rather than a text (WhatsApp's
    authentication templates, Telegram's Gateway API). ``Outbound.text`` holds it too, rendered."""

    code: str
    locale: str  # en | ar | ku
    brand: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Outbound:
    message_id: str
    account_id: str
    recipient: str  # E.164
    sender: str  # alphanumeric name or E.164 number
    text: str
    encoding: str  # gsm7 | ucs2
    parts: tuple[str, ...]  # the text as it is split into message parts
    expires_at: datetime
    code: OneTimeCode | None = None  # set when the message carries a verification's code


@dataclass(frozen=True, slots=True)
class Submitted:
    carrier_ids: tuple[str, ...]  # one per part, in order


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    connector_id: str
    carrier_id: str
    status: MessageStatus
    error_code: str | None
    raw: str  # the report as the carrier sent it
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message a phone sent (MO), or one part of it when it came in several."""

    connector_id: str
    sender: str  # E.164 when the carrier gave an international number; otherwise as it came
    recipient: str  # the number or short code it was sent to, the same way
    text: str
    received_at: datetime
    reference: int | None = None  # parts of one concatenated message share it (with the sender)
    total: int = 1
    sequence: int = 1


class ConnectorError(Exception):
    transient: ClassVar[bool] = True

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class TransientError(ConnectorError):
    transient = True


class PermanentError(ConnectorError):
    transient = False


class ReportSink(Protocol):
    async def deliver(self, reports: Sequence[DeliveryReport]) -> None:
        """Record ``reports`` durably; returns once they are committed."""


class InboundSink(Protocol):
    async def receive(self, messages: Sequence[Inbound]) -> None:
        """Record inbound messages (or parts) durably; returns once they are committed."""


class OpenParts(Protocol):
    async def awaiting(self, connector_id: str, limit: int) -> Sequence[str]:
        """Carrier ids of the connector's parts sent and not yet reported final, oldest first (for
        connectors whose carrier must be asked rather than reporting by itself)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a connector is given besides its configuration."""

    reports: ReportSink
    db: Database
    writer: GroupCommitWriter
    inbound: InboundSink
    open_parts: OpenParts | None = None


class Connector(ABC):
    """One configured link. The dispatcher calls ``start`` once, ``submit`` concurrently, ``stop``
    at shutdown."""

    kind: ClassVar[str]

    def __init__(self, connector_id: str, name: str) -> None:
        self.id = connector_id
        self.name = name

    async def start(self) -> None:  # noqa: B027 - most connectors have nothing to open
        """Open links, resume what was pending."""

    async def stop(self) -> None:  # noqa: B027 - most connectors have nothing to close
        """Close links; called once, after the last ``submit`` returned."""

    @abstractmethod
    async def submit(self, message: Outbound) -> Submitted:
        """Hand ``message`` to the carrier; raise ``TransientError`` or ``PermanentError``."""
