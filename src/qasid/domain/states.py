"""The canonical delivery states of a message, shared by every channel and dialect.

    accepted ─┬─▶ queued ─▶ sending ─▶ sent ─┬─▶ delivered
    scheduled ┘                              ├─▶ partially_delivered
                                             ├─▶ undelivered
    (any state before sent) ─▶ failed        ├─▶ rejected
                             ─▶ expired      └─▶ expired
                             ─▶ canceled (only from scheduled)

States only move forward (``advance``): a late, duplicate or out-of-order report never moves a
message back, and a final state is final. A message sent in parts has a state per part; the
message's state is their aggregate (``aggregate``). Reports keep their raw text beside the state.

Money follows the final state (``is_charged``): delivered, partially delivered, undelivered and
expired after sending are charged as sent; failed (the carrier never took it), rejected, canceled and
expired before sending are refunded.
"""

from __future__ import annotations

from collections.abc import Iterable
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
NOT_YET_SENT = frozenset(
    {MessageStatus.ACCEPTED, MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING}
)

_RANK = {
    MessageStatus.ACCEPTED: 0,
    MessageStatus.SCHEDULED: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENDING: 3,
    MessageStatus.SENT: 4,
}
_FINAL_RANK = 5


def rank(status: MessageStatus) -> int:
    return _RANK.get(status, _FINAL_RANK)


def advance(current: MessageStatus, proposed: MessageStatus) -> MessageStatus | None:
    """The state after ``proposed`` is reported in ``current``, or None when nothing changes."""
    if current in FINAL or rank(proposed) <= rank(current):
        return None
    if proposed == MessageStatus.CANCELED and current not in CANCELABLE:
        return None
    return proposed


def is_charged(final: MessageStatus, *, was_sent: bool) -> bool:
    """Whether a message that ended in ``final`` is paid for (else its reservation is refunded)."""
    if final in (MessageStatus.DELIVERED, MessageStatus.PARTIALLY_DELIVERED, MessageStatus.UNDELIVERED):
        return True
    return final == MessageStatus.EXPIRED and was_sent


def aggregate(parts: Iterable[MessageStatus]) -> MessageStatus:
    """A message's state from its parts' states.

    Until every part is final the message is as far as its least advanced part. Then: delivered
    when every part is, partially delivered when some are, rejected when every part was refused,
    otherwise undelivered (or expired when every undelivered part expired)."""
    states = list(parts)
    if not states:
        raise ValueError("a message has at least one part")
    if any(state not in FINAL for state in states):
        return min(states, key=rank)
    delivered = sum(state == MessageStatus.DELIVERED for state in states)
    if delivered == len(states):
        return MessageStatus.DELIVERED
    if delivered:
        return MessageStatus.PARTIALLY_DELIVERED
    if all(state == MessageStatus.REJECTED for state in states):
        return MessageStatus.REJECTED
    if all(state == MessageStatus.EXPIRED for state in states):
        return MessageStatus.EXPIRED
    return MessageStatus.UNDELIVERED


# SMPP 3.4 Appendix B ``stat:`` words and ``message_state`` TLV values, normalised.
_SMPP_STAT = {
    "DELIVRD": MessageStatus.DELIVERED,
    "UNDELIV": MessageStatus.UNDELIVERED,
    "EXPIRED": MessageStatus.EXPIRED,
    "DELETED": MessageStatus.UNDELIVERED,
    "REJECTD": MessageStatus.REJECTED,
    "ACCEPTD": MessageStatus.SENT,
    "ENROUTE": MessageStatus.SENT,
    "UNKNOWN": MessageStatus.UNDELIVERED,
}
_SMPP_MESSAGE_STATE = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def from_smpp_stat(stat: str) -> MessageStatus:
    """The state an SMPP receipt's ``stat:`` word means; unknown words are UNKNOWN (undelivered)."""
    return _SMPP_STAT.get(stat.strip().upper()[:7], MessageStatus.UNDELIVERED)


def from_smpp_message_state(value: int) -> MessageStatus:
    """The state an SMPP ``message_state`` TLV value means."""
    return from_smpp_stat(_SMPP_MESSAGE_STATE.get(value, "UNKNOWN"))
