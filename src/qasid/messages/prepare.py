"""Accepting a send request: everything decided before the write.

``prepare_send`` turns a request into the rows to write and the response to give, from the caller,
the account's cached price list and senders, and the clock. It does no I/O. The rows are then written
by ``AcceptSend`` (``messages.accept``) in the group commit, which also takes the money.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import msgspec

from qasid.accounts.records import Caller
from qasid.billing.records import Channel, PriceList
from qasid.domain import ids
from qasid.domain.encoding import Encoding, TextInfo, analyze
from qasid.domain.phone import Recipient, Refusal, parse_recipient
from qasid.domain.states import MessageStatus
from qasid.errors import (
    InvalidRequest,
    InvalidSchedule,
    NoValidRecipients,
    SenderNotApproved,
    TextTooLong,
    UnknownSender,
)
from qasid.messages.repository import BatchRow, MessageRow
from qasid.messages.schemas import AcceptedMessage, InvalidRecipient, SendMessageRequest
from qasid.senders import service as senders
from qasid.senders.records import EVERYWHERE, SenderRules, SenderStatus
from qasid.settings import Settings
from qasid.webhooks.records import Callback

_NAMES = {Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp", Channel.TELEGRAM: "Telegram"}


@dataclass(frozen=True, slots=True)
class SendCatalog:
    """What the send path needs to know of an account; cached for ``cache_seconds``."""

    prices: PriceList
    senders: dict[str, SenderRules]  # by canonical name


@dataclass(slots=True)
class PreparedSend:
    """A decided request: its batch row, message rows and the response it gets once written."""

    caller: Caller
    batch: BatchRow
    messages: list[MessageRow]
    accepted: list[AcceptedMessage]
    invalid: list[InvalidRecipient]
    duplicates: int
    total_cost: int
    idempotency_key: str | None = None
    request_hash: str | None = None
    created_at: datetime = field(default=datetime.min)
    stop_list: bool = True  # whether numbers that opted out are refused (the block-list always is)
    urgent: bool = False  # its messages are dispatched before every other due one (one-time codes)


def drop_recipients(send: PreparedSend, refused: dict[str, InvalidRecipient]) -> None:
    """Take the ``refused`` numbers (E.164) out of a prepared send, with their reasons among its
    invalid recipients, and its cost and batch row made to match."""
    kept = [
        (row, shown)
        for row, shown in zip(send.messages, send.accepted, strict=True)
        if row.recipient not in refused
    ]
    send.invalid = send.invalid + [
        refused[row.recipient] for row in send.messages if row.recipient in refused
    ]
    send.messages = [row for row, _ in kept]
    send.accepted = [shown for _, shown in kept]
    send.total_cost = sum(row.price for row in send.messages)
    send.batch = send.batch._replace(recipients=len(send.messages), total_cost=send.total_cost)


def request_hash(request: SendMessageRequest) -> str:
    """Equal for equal requests however their JSON was spaced or ordered."""
    return hashlib.sha256(msgspec.json.encode(request)).hexdigest()


def prepare_send(
    caller: Caller,
    catalog: SendCatalog,
    request: SendMessageRequest,
    settings: Settings,
    now: datetime,
    *,
    idempotency: tuple[str, str] | None = None,
    request_id: str | None = None,
    channel: Channel = Channel.SMS,
    callback: Callback | None = None,
) -> PreparedSend:
    """``idempotency`` is the request's key and ``request_hash``, when it has a key; ``request_id``
    is kept on the batch for the logs; ``callback`` is the request's own status callback. A WhatsApp
    or Telegram message (a verification's code) is one part whatever its length, priced at the
    channel's price."""
    info = _check_text(request.text, settings)
    if channel != Channel.SMS:
        info = replace(info, segments=1)
    sender, rules = _check_sender(request.sender, catalog)
    expires_at = _check_timing(request, settings, now)
    numbers = [request.to] if isinstance(request.to, str) else request.to
    if len(numbers) > settings.max_recipients:
        raise InvalidRequest(
            f"at most {settings.max_recipients} recipients per request",
            errors=[
                {"field": "to", "message": f"{len(numbers)} recipients; at most {settings.max_recipients}"}
            ],
        )
    recipients, invalid, duplicates = _resolve(
        numbers, caller, catalog.prices, info, channel, sender=(sender, rules)
    )
    if not recipients:
        raise NoValidRecipients(
            "none of the recipients can be sent to", invalid=[msgspec.to_builtins(i) for i in invalid]
        )
    return _build(
        caller,
        request,
        sender=sender,
        info=info,
        recipients=recipients,
        invalid=invalid,
        duplicates=duplicates,
        expires_at=expires_at,
        now=now,
        idempotency=idempotency,
        request_id=request_id,
        channel=channel,
        callback=callback,
    )


def _check_text(text: str, settings: Settings) -> TextInfo:
    info = analyze(text)
    limit = settings.max_gsm7_units if info.encoding == Encoding.GSM7 else settings.max_ucs2_units
    if info.units > limit:
        unit = "GSM-7 septets" if info.encoding == Encoding.GSM7 else "UCS-2 units"
        raise TextTooLong(
            f"the text is {info.units} {unit}; at most {limit} are allowed",
            errors=[{"field": "text", "message": f"{info.units} {unit}, limit {limit}"}],
            encoding=info.encoding.value,
            units=info.units,
            limit=limit,
        )
    return info


def _check_sender(name: str, catalog: SendCatalog) -> tuple[str, SenderRules]:
    canonical, rules = name, catalog.senders.get(name)  # senders are usually sent as stored
    if rules is None:
        try:
            canonical = senders.normalize(name)[1]
        except InvalidRequest:
            canonical = name
        rules = catalog.senders.get(canonical)
    if rules is None:
        raise UnknownSender(
            f"this account has no sender ID {name!r}",
            errors=[{"field": "sender", "message": "unknown sender ID"}],
        )
    if rules.status != SenderStatus.APPROVED:
        raise SenderNotApproved(
            f"the sender ID {canonical!r} is {rules.status.value}, not approved",
            sender_status=rules.status.value,
        )
    return canonical, rules


def _check_timing(request: SendMessageRequest, settings: Settings, now: datetime) -> datetime:
    start = now
    if request.schedule_at is not None:
        latest = now + timedelta(days=settings.max_schedule_days)
        if request.schedule_at <= now or request.schedule_at > latest:
            raise InvalidSchedule(
                f"schedule_at must be in the future and at most {settings.max_schedule_days} days ahead",
                errors=[{"field": "schedule_at", "message": "in the past or too far ahead"}],
            )
        start = request.schedule_at
    validity = request.validity if request.validity is not None else settings.default_validity_seconds
    if not settings.min_validity_seconds <= validity <= settings.max_validity_seconds:
        bounds = f"{settings.min_validity_seconds} to {settings.max_validity_seconds} seconds"
        raise InvalidRequest(f"validity must be {bounds}", errors=[{"field": "validity", "message": bounds}])
    return start + timedelta(seconds=validity)


def _resolve(
    numbers: list[str],
    caller: Caller,
    prices: PriceList,
    info: TextInfo,
    channel: Channel,
    *,
    sender: tuple[str, SenderRules],
) -> tuple[list[tuple[Recipient, int]], list[InvalidRecipient], int]:
    """Parse, deduplicate and price every recipient; refusals are kept with their reason. A sender
    approved per destination goes only there, at its own price where it has one."""
    name, rules = sender
    accepted: list[tuple[Recipient, int]] = []
    invalid: list[InvalidRecipient] = []
    seen: set[str] = set()
    duplicates = 0
    for raw in numbers:
        parsed = parse_recipient(raw, caller.default_region)
        if isinstance(parsed, Refusal):
            invalid.append(InvalidRecipient(to=raw, reason=parsed.reason, detail=parsed.detail))
            continue
        if parsed.e164 in seen:
            duplicates += 1
            continue
        seen.add(parsed.e164)
        # Sender IDs are registered with SMS networks; other channels send as the account.
        destination = (
            rules.destination(parsed.country, parsed.operator) if channel == Channel.SMS else EVERYWHERE
        )
        if destination is None:
            where = f"{parsed.country}/{parsed.operator or 'unknown operator'}"
            detail = f"the sender ID {name!r} is not approved for {where}"
            invalid.append(InvalidRecipient(to=raw, reason="sender_not_approved", detail=detail))
            continue
        unit = (
            destination.price
            if destination.price is not None
            else prices.price(parsed.country, parsed.operator, channel)
        )
        if unit is None:
            where = f"{parsed.country}/{parsed.operator or 'unknown operator'}"
            detail = f"no {_NAMES[channel]} price for {where}"
            invalid.append(InvalidRecipient(to=raw, reason="no_price", detail=detail))
            continue
        accepted.append((parsed, unit * info.segments))
    return accepted, invalid, duplicates


def _build(
    caller: Caller,
    request: SendMessageRequest,
    *,
    sender: str,
    info: TextInfo,
    recipients: list[tuple[Recipient, int]],
    invalid: list[InvalidRecipient],
    duplicates: int,
    expires_at: datetime,
    now: datetime,
    idempotency: tuple[str, str] | None,
    request_id: str | None,
    channel: Channel,
    callback: Callback | None,
) -> PreparedSend:
    now_ms = int(now.timestamp() * 1000)
    batch_id = ids.new_id("bat", now_ms)
    status = (MessageStatus.SCHEDULED if request.schedule_at is not None else MessageStatus.ACCEPTED).value
    rows, accepted, total = [], [], 0
    encoding = info.encoding.value
    message_ids = ids.new_ids("msg", len(recipients), now_ms)
    for message_id, (recipient, price) in zip(message_ids, recipients, strict=True):
        rows.append(
            MessageRow(
                message_id, caller.account_id, batch_id, recipient.e164, recipient.country,
                recipient.operator, price, status, now,
            )
        )  # fmt: skip
        accepted.append(
            AcceptedMessage(
                id=message_id, to=recipient.e164, status=status, country=recipient.country,
                operator=recipient.operator, encoding=encoding, segments=info.segments, price=price,
            )
        )  # fmt: skip
        total += price
    batch = BatchRow(
        id=batch_id,
        account_id=caller.account_id,
        channel=channel.value,
        sender=sender,
        body=request.text,
        encoding=encoding,
        segments=info.segments,
        currency=caller.currency,
        client_ref=request.client_ref,
        schedule_at=request.schedule_at,
        expires_at=expires_at,
        recipients=len(rows),
        total_cost=total,
        request_id=request_id,
        created_at=now,
        callback=callback.encode() if callback is not None else None,
    )
    return PreparedSend(
        caller=caller,
        batch=batch,
        messages=rows,
        accepted=accepted,
        invalid=invalid,
        duplicates=duplicates,
        total_cost=total,
        idempotency_key=idempotency[0] if idempotency else None,
        request_hash=idempotency[1] if idempotency else None,
        created_at=now,
        stop_list=request.stop_list,
    )
