"""Request and response shapes of the native messages API (msgspec structs; the OpenAPI schema is
generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from qasid.webhooks.schemas import Callback

Recipient = Annotated[str, Meta(min_length=1, max_length=64, examples=["+9647701234567"])]


class SendMessageRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Send one text to 1-500 numbers, now or at ``schedule_at``."""

    to: Annotated[
        Recipient | Annotated[list[Recipient], Meta(min_length=1)],
        Meta(description="E.164 numbers, or national ones read in the account's default region"),
    ]
    text: Annotated[str, Meta(min_length=1, max_length=10_000, description="GSM-7 or UCS-2 is chosen for it")]
    sender: Annotated[
        str, Meta(min_length=1, max_length=20, description="an approved sender ID of the account")
    ]
    schedule_at: (
        Annotated[datetime, Meta(tz=True, description="RFC 3339 with offset; future, at most 35 days ahead")]
        | None
    ) = None
    validity: (
        Annotated[
            int, Meta(ge=1, description="seconds the carrier may keep trying; default 48 h, 60 s to 72 h")
        ]
        | None
    ) = None
    client_ref: Annotated[str, Meta(max_length=64, description="your reference, echoed back")] | None = None
    callback: Callback | None = None
    stop_list: Annotated[
        bool,
        Meta(
            description="false sends to numbers that opted out of the account's messages too (for "
            "messages they asked for); the block-list always applies"
        ),
    ] = True


class AcceptedMessage(Struct, kw_only=True):
    id: str
    to: str
    status: str
    country: str
    operator: str | None
    encoding: str
    segments: int
    price: Annotated[
        int, Meta(description="minor units reserved for this message: segments x price per part")
    ]


class InvalidRecipient(Struct, kw_only=True):
    to: Annotated[str, Meta(description="the number as it was sent (in E.164 when stopped or blocked)")]
    reason: Annotated[
        str,
        Meta(
            description="unparsable, invalid_number, missing_country_code, landline, premium_rate, "
            "toll_free, shared_cost, voip, not_mobile, no_price, stopped (opted out), blocked"
        ),
    ]
    detail: str


class SendMessageResponse(Struct, kw_only=True):
    batch_id: str
    messages: list[AcceptedMessage]
    invalid: list[InvalidRecipient]
    duplicates: Annotated[int, Meta(description="repeated recipients sent once")]
    total_cost: int
    currency: str
    balance: Annotated[int, Meta(description="the account's balance after this request")]
    available: Annotated[int, Meta(description="what the account may still spend (postpaid: with credit)")]


class StatusChange(Struct, kw_only=True):
    status: str
    at: datetime
    detail: str | None = None


class Message(Struct, kw_only=True):
    id: str
    batch_id: str
    channel: str
    to: str
    country: str
    operator: str | None
    sender: str
    text: str
    encoding: str
    segments: int
    price: int
    currency: str
    status: str
    error_code: Annotated[str | None, Meta(description="the carrier's (or Qasid's) code when it failed")]
    client_ref: str | None
    schedule_at: datetime | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class MessageDetail(Message, kw_only=True):
    history: list[StatusChange]


class MessagePage(Struct, kw_only=True):
    data: list[Message]
    next_cursor: Annotated[
        str | None, Meta(description="pass as ?cursor= for the next page; null at the end")
    ]
