"""Recording what phones send: whole messages at once, parts once all their siblings are in.

A concatenated message arrives as parts sharing a reference (per connector, sender and recipient).
Each part is stored as it comes (a part sent twice is stored once); when the last one is in, the
parts become one message in sequence order, in the same transaction. Parts whose siblings never
come stay in ``inbound_parts``.

A whole message belongs to the account the number it was sent to is assigned to (``qasid numbers``),
or else whose approved numeric sender it is (none when no account, or more than one, has it). For
its account it is an ``inbound.message`` event, and a stop word puts its sender on the account's
stop-list (a start word takes it off), all in the transaction that stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

import structlog
from sqlalchemy import Connection

from qasid.channels.base import Inbound
from qasid.contacts.repository import ContactRepository
from qasid.contacts.service import NewContact, add_contacts
from qasid.db.writer import GroupCommitWriter, WriteOp
from qasid.domain import ids
from qasid.domain.phone import mask, normalize_e164
from qasid.errors import QasidError
from qasid.inbound.keywords import BUILT_IN, Keyword, Keywords, first_word
from qasid.inbound.repository import Group, InboundRepository, InboundRow
from qasid.numbers.repository import NumberRepository
from qasid.optout import service as optout
from qasid.optout.records import ListKind, Source
from qasid.optout.repository import ListRepository
from qasid.webhooks.events import Event, publish
from qasid.webhooks.records import EventType

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class RecordInbound(WriteOp[None]):
    messages: Sequence[Inbound]

    kind = "inbound"

    @property
    def rows(self) -> int:  # type: ignore[override]  # a property in place of the base's attribute
        return len(self.messages)

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[Self]) -> Sequence[QasidError | None]:
        received = [message for op in ops for message in op.messages]
        repo = InboundRepository(conn)
        rows = [_row(m, m.text, 1) for m in received if not _is_part(m)]
        parts = [m for m in received if _is_part(m)]
        if parts:
            repo.insert_parts(
                [(m.connector_id, m.sender, m.recipient, m.reference or 0, m.total, m.sequence, m.text,
                  m.received_at) for m in parts]
            )  # fmt: skip
            groups = {(m.connector_id, m.sender, m.recipient, m.reference or 0): m for m in parts}
            complete: list[Group] = []
            for group, stored in repo.parts_of(list(groups)).items():
                if len(stored) >= max(total for _, total, _, _ in stored):
                    complete.append(group)
                    text = "".join(body for _, _, body, _ in stored)
                    at = max(received for _, _, _, received in stored)
                    rows.append(_row(groups[group], text, len(stored), at))
            repo.delete_groups(complete)
        rows = _owned(conn, rows)
        repo.insert_messages(rows)
        _tell(conn, rows, max(m.received_at for m in received))
        return [None] * len(ops)


def _owned(conn: Connection, rows: list[InboundRow]) -> list[InboundRow]:
    """Each message with the account that owns the number it was sent to."""
    numbers = {row.recipient: _e164(row.recipient) for row in rows}
    wanted = [n for n in numbers.values() if n]
    assigned = NumberRepository(conn).owners(wanted)  # a number the operator assigned comes first
    owners = InboundRepository(conn).owners([n for n in wanted if n not in assigned])
    owners.update({number: [account_id] for number, account_id in assigned.items()})
    owned = []
    for row in rows:
        accounts = owners.get(numbers[row.recipient] or "", [])
        if len(accounts) > 1:
            log.warning("inbound number owned by several accounts; left unassigned", to=mask(row.recipient))
        owned.append(row._replace(account_id=accounts[0] if len(accounts) == 1 else None))
    return owned


def _tell(conn: Connection, rows: list[InboundRow], now: datetime) -> None:
    """Stop and start words move the sender on or off the stop-list (a stop word takes it out of
    every list too), a list's subscribe word puts it in that list; every owned message is an event."""
    owned = [row for row in rows if row.account_id is not None]
    accounts = [row.account_id for row in owned if row.account_id]
    words = {
        account: Keywords.of(*lists) for account, lists in InboundRepository(conn).keywords(accounts).items()
    }
    subscribing: dict[tuple[str, str], str] = {
        (found["account_id"], found["subscribe_word"]): found["id"]
        for found in ContactRepository(conn).subscribing(accounts)
    }
    events = []
    for row in owned:
        assert row.account_id is not None  # noqa: S101 - filtered above
        keyword = words.get(row.account_id, BUILT_IN).classify(row.body)
        sender = _e164(row.sender)
        if keyword is not None and sender is not None:
            _opt(conn, row, sender, keyword, now)
        elif sender is not None and (joined := subscribing.get((row.account_id, first_word(row.body)))):
            contact = NewContact(sender)
            add_contacts(conn, row.account_id, "ZZ", [contact], now, list_id=joined, checked=True)
        data = {
            "id": row.id,
            "from": row.sender,
            "to": row.recipient,
            "text": row.body,
            "parts": row.parts,
            "received_at": row.received_at,
            "keyword": keyword.value if keyword else None,
        }
        events.append(Event(EventType.INBOUND_MESSAGE, row.account_id, row.id, 1, data))
    publish(conn, events, now)


def _opt(conn: Connection, row: InboundRow, sender: str, keyword: Keyword, now: datetime) -> None:
    assert row.account_id is not None  # noqa: S101 - only owned messages opt in or out
    if keyword == Keyword.STOP:
        note = f"sent {row.body[:40]!r} ({row.id})"
        optout.add(conn, row.account_id, sender, ListKind.STOP, now, source=Source.KEYWORD, note=note)
        ContactRepository(conn).leave_all(row.account_id, sender)
    else:
        ListRepository(conn).remove(row.account_id, sender, ListKind.STOP)


def _e164(raw: str) -> str | None:
    """A number as it came from a carrier ("9647701234567", "+964...", "00964...") in E.164, or None
    (a short code, or a name)."""
    digits = raw[1:] if raw.startswith("+") else raw[2:] if raw.startswith("00") else raw
    if not digits.isdigit() or len(digits) < 8:
        return None
    return normalize_e164("+" + digits)


def _is_part(message: Inbound) -> bool:
    return message.reference is not None and message.total > 1


def _row(last: Inbound, text: str, parts: int, at: datetime | None = None) -> InboundRow:
    """The message that ``last`` (the only part, or one of the parts) completes, received ``at``
    (when its last part came)."""
    at = at or last.received_at
    new_id = ids.new_id("inb", int(at.timestamp() * 1000))
    return InboundRow(new_id, last.connector_id, last.sender, last.recipient, text, parts, at)


class WriterInboundSink:
    """Where connectors hand inbound messages: recorded through the group commit."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self.writer = writer

    async def receive(self, messages: Sequence[Inbound]) -> None:
        if messages:
            await self.writer.submit(RecordInbound(messages))
