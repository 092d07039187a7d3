"""Publishing events: a delivery row per receiver, written in the transaction that changed the state.

Whoever changes a message's state, ends a verification or stores an inbound message calls one of the
functions below inside that same write transaction, so an event exists if and only if its change was
committed: a crash can lose neither, and a rolled-back change leaves no event behind. Each receiver
(a live endpoint of the account that subscribes to the event, and the request's own callback) gets
its own delivery row, which is also its outbox job (``qasid.webhooks.sender`` sends it). Every
receiver of one event gets the same ``event_id`` (the ``webhook-id`` header) and the same body,
fixed now: a retry or a replay sends exactly what was first sent.

The body follows the Standard Webhooks payload layout::

    {"type": "message.status", "timestamp": "2026-12-06T12:00:00.123456Z",
     "data": {"id": "msg_...", "status": "delivered", "sequence": 6, ...}}

``sequence`` orders the events of one subject (a message, a verification): a later event always has
a higher one, so a receiver that sees them out of order keeps the highest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import msgspec
from sqlalchemy import Connection, RowMapping

from qasid.db.bulk import write
from qasid.domain import ids
from qasid.domain.states import FINAL, MessageStatus, rank
from qasid.webhooks.records import Callback, DeliveryStatus, EventType, Statuses, Subscriber
from qasid.webhooks.repository import WEBHOOKS_CHANNEL, DeliveryRepository, EndpointRepository

PUBLISHED = "qasid.webhooks.published"  # set in conn.info when a transaction wrote deliveries to claim
HANDOFF = "qasid.webhooks.handoff"  # conn.info: the Claimant of the connection's process, if it sends
HANDED = "qasid.webhooks.handed"  # conn.info: deliveries written claimed by it, to hand over at commit
VERIFICATION_SEQUENCE = {"pending": 1}  # any end of a verification comes after its start: 2
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    account_id: str
    subject_id: str
    sequence: int
    data: dict[str, Any]
    final: bool = True  # message.status: whether the state is final (for "final only" receivers)
    callback: Callback | None = field(default=None)  # the subject's own receiver, if it named one


class Claimant(Protocol):
    """A process's webhook sender, to which the deliveries its own writer writes go straight: written
    claimed by it, and handed over once committed (``HANDED``), with no claim to wait for or pay."""

    worker_id: str

    def room(self, receiver: str | None) -> int:
        """How many more deliveries it takes now: in all (``None``), or for one receiver. Asked from
        the writer's thread."""
        ...


def publish(
    conn: Connection,
    events: Sequence[Event],
    now: datetime,
    subscribers: Mapping[str, Sequence[Subscriber]] | None = None,
) -> int:
    """Write a delivery for every receiver of every event; returns how many. While the connection's
    process has room (``HANDOFF``), they are written claimed by its sender and handed to it after
    the commit; the others wait for a claim. ``subscribers``: the live endpoints of (at least) the
    events' accounts, when the caller has read them already (``EndpointRepository.subscribers``)."""
    if not events:
        return 0
    if subscribers is None:
        subscribers = EndpointRepository(conn).subscribers(list({e.account_id for e in events}))
    rows: list[tuple[Any, ...]] = []
    handoff: Handoff | None = conn.info.get(HANDED)
    if handoff is None and (claimant := conn.info.get(HANDOFF)) is not None:
        handoff = conn.info[HANDED] = Handoff(claimant)
    waiting = False  # some of these deliveries wait for a claim
    pending = DeliveryStatus.PENDING.value
    for event in events:
        receivers: list[tuple[str | None, str | None, str | None, str, str, str | None]] = [
            (s.id, None, None, s.format, s.url, s.secret)
            for s in subscribers.get(event.account_id, ())
            if s.wants(event.type, final=event.final)
        ]
        own = event.callback
        if own is not None and (event.final or own.statuses == Statuses.ALL):
            receivers.append((None, own.url, own.secret, own.format, own.url, own.secret))
        if not receivers:
            continue
        event_id = ids.new_id("evt")
        body = _encoder.encode(
            {"type": event.type.value, "timestamp": now, "data": {**event.data, "sequence": event.sequence}}
        ).decode()
        common = (event.type.value, event.subject_id, event.sequence, body, pending, 0, now, now, now)
        for endpoint_id, url, secret, form, target, sealed in receivers:
            delivery_id = ids.new_id("whd")
            if handoff is not None and handoff.take(endpoint_id or target):
                rows.append((delivery_id, event_id, event.account_id, endpoint_id, url, secret, form, *common,
                             handoff.claimant.worker_id, now))  # fmt: skip
                handoff.items.append(  # as qasid.webhooks.sender.Due takes it
                    (delivery_id, event_id, endpoint_id, target, sealed, form, body, 0, now, event.subject_id,
                     event.sequence)
                )  # fmt: skip
            else:
                rows.append((delivery_id, event_id, event.account_id, endpoint_id, url, secret, form, *common,
                             None, None))  # fmt: skip
                waiting = True
    if rows:
        DeliveryRepository(conn).insert(rows)
        if waiting:
            announce(conn)
    return len(rows)


@dataclass(slots=True)
class Handoff:
    """The deliveries one transaction hands to its process's sender (``conn.info[HANDED]``), and the
    sender's room, counted down as they are written."""

    claimant: Claimant
    items: list[tuple[Any, ...]] = field(default_factory=list)
    by_receiver: dict[str, int] = field(default_factory=dict)
    total: int = -1

    def __bool__(self) -> bool:
        return bool(self.items)

    def take(self, receiver: str) -> bool:
        if self.total < 0:
            self.total = self.claimant.room(None)
        left = self.by_receiver.get(receiver)
        if left is None:
            left = self.claimant.room(receiver)
        if len(self.items) >= self.total or left <= 0:
            return False
        self.by_receiver[receiver] = left - 1
        return True


def announce(conn: Connection) -> None:
    """Deliveries became due in this transaction: wake the senders once it commits (this process's
    through the writer's ``on_commit``, other processes' by PostgreSQL NOTIFY)."""
    conn.info[PUBLISHED] = True
    if conn.dialect.name == "postgresql":
        write(conn, f"NOTIFY {WEBHOOKS_CHANNEL}")


def message_statuses(conn: Connection, changes: Sequence[tuple[str, MessageStatus]], now: datetime) -> None:
    """``message.status`` for messages that moved: (message_id, new status). Called beside every
    write of a message's history (``message_events``)."""
    if not changes:
        return
    status_of = dict(changes)
    events = []
    for (
        message_id,
        account_id,
        batch_id,
        recipient,
        error_code,
        channel,
        client_ref,
        sealed_callback,
        verification_id,
    ) in DeliveryRepository(conn).message_subjects(list(status_of)):
        status = status_of[message_id]
        data = {
            "id": message_id,
            "batch_id": batch_id,
            "to": recipient,
            "channel": channel,
            "status": status.value,
            "error_code": None if status == MessageStatus.DELIVERED else error_code,
            "client_ref": client_ref,
            "verification_id": verification_id,  # set when the message carries a verification's code
        }
        callback = Callback.decode(sealed_callback) if sealed_callback else None
        final = status in FINAL
        events.append(
            Event(EventType.MESSAGE_STATUS, account_id, message_id, rank(status) + 1, data, final, callback)
        )
    publish(conn, events, now)


def verification_statuses(
    conn: Connection,
    rows: Sequence[RowMapping | Mapping[str, Any]],
    now: datetime,
    subscribers: Mapping[str, Sequence[Subscriber]] | None = None,
) -> None:
    """``verification.status`` for verifications that ended: rows with their new ``status``.
    ``subscribers`` as ``publish`` takes them."""
    events = []
    for row in rows:
        data = {
            "id": row["id"],
            "to": row["recipient"],
            "status": row["status"],
            "channel": row["channel"],
            "attempts": row["attempts"],
        }
        callback = (
            Callback(row["callback_url"], secret=row["callback_secret"]) if row["callback_url"] else None
        )
        sequence = VERIFICATION_SEQUENCE.get(row["status"], 2)
        events.append(
            Event(EventType.VERIFICATION_STATUS, row["account_id"], row["id"], sequence, data, True, callback)
        )
    publish(conn, events, now, subscribers)
