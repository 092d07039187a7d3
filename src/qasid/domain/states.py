"""The canonical delivery states of a message, shared by every channel and dialect.

    accepted -> scheduled -> queued -> sending -> sent -> delivered | undelivered | failed | expired
                                                          | rejected | partially_delivered
    canceled (only before sending)

The transition rules and report handling arrive with the dispatcher; acceptance and cancellation use
the states below.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    PARTIALLY_DELIVERED = "partially_delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELED = "canceled"


FINAL = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.PARTIALLY_DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.EXPIRED,
        MessageStatus.REJECTED,
        MessageStatus.CANCELED,
    }
)

CANCELABLE = frozenset({MessageStatus.SCHEDULED})
