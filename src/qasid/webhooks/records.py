"""What webhooks are made of: event types, receivers, deliveries and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from qasid.outbox.records import RetryPolicy


class EventType(StrEnum):
    MESSAGE_STATUS = "message.status"  # a message moved to a new state
    VERIFICATION_STATUS = "verification.status"  # a verification ended: approved, failed, expired...
    INBOUND_MESSAGE = "inbound.message"  # a phone wrote to one of the account's numbers
    WEBHOOK_DISABLED = "webhook.disabled"  # one of the account's endpoints was disabled


class Statuses(StrEnum):
    """Which ``message.status`` events a receiver wants."""

    ALL = "all"  # every state change in the message's history
    FINAL = "final"  # only the final state


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next try
    DELIVERED = "delivered"  # a try got a 2xx
    FAILED = "failed"  # tries ran out (or the address is not allowed); replay sends it again


class Format(StrEnum):
    """How a delivery is put on the wire. Dialects (qasid.compat) register their own."""

    STANDARD = "standard"  # POST JSON, Standard Webhooks headers and signature


@dataclass(frozen=True, slots=True)
class Callback:
    """A request's own receiver of its status events (``callback`` on a send, ``callback_url`` on a
    verification). Stored on the batch as JSON; ``secret`` is sealed (``qasid.vault``)."""

    url: str
    statuses: Statuses = Statuses.ALL
    secret: str | None = None
    format: str = Format.STANDARD.value

    def encode(self) -> str:
        return _json.encode(
            {"url": self.url, "statuses": self.statuses.value, "secret": self.secret, "format": self.format}
        ).decode()

    @classmethod
    def decode(cls, raw: str) -> Callback:
        value: dict[str, Any] = msgspec.json.decode(raw)
        return cls(value["url"], Statuses(value["statuses"]), value.get("secret"), value["format"])


_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An enabled endpoint, as event publishing needs it."""

    id: str
    account_id: str
    events: frozenset[str]
    statuses: Statuses
    format: str = Format.STANDARD.value
    url: str = ""
    secret: str = ""  # sealed

    def wants(self, event_type: str, *, final: bool) -> bool:
        if event_type not in self.events:
            return False
        return event_type != EventType.MESSAGE_STATUS or final or self.statuses == Statuses.ALL


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When a failed delivery is tried again: exponential backoff with full jitter (``RetryPolicy``),
    for as long as ``give_up_after`` from the event; after that it is failed."""

    policy: RetryPolicy
    give_up_after: timedelta

    def next_try(self, attempts: int, created_at: datetime, now: datetime) -> datetime | None:
        """After ``attempts`` failed tries: when to try again (the last try falls when the time is
        up), or None to give up."""
        deadline = created_at + self.give_up_after
        if now >= deadline:
            return None
        return min(now + self.policy.delay(attempts - 1), deadline)
