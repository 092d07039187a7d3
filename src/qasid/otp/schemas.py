"""Request and response shapes of ``/v1/verifications`` (msgspec structs; OpenAPI is made from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from qasid.webhooks.schemas import Callback

Channel = Literal["sms", "whatsapp", "telegram"]
Locale = Literal["en", "ar", "ku"]
Code = Annotated[str, Meta(pattern=r"^[0-9]{4,10}$", description="4 to 10 digits")]


class CreateVerificationRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Send a one-time code to ``to`` over the first channel of ``channels``."""

    to: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=64,
            examples=["+9647701234567"],
            description="E.164, or national in the account's default region",
        ),
    ]
    sender: Annotated[str, Meta(min_length=1, max_length=20, description="an approved sender ID (SMS)")]
    channels: (
        Annotated[
            list[Channel],
            Meta(
                min_length=1,
                max_length=3,
                description="the workflow, in order; each channel at most once. Default: the gateway's "
                "(QASID_OTP_DEFAULT_CHANNELS)",
            ),
        ]
        | None
    ) = None
    code_length: Annotated[int, Meta(ge=4, le=10, description="digits of the code Qasid makes")] | None = None
    code: Annotated[Code, Meta(description="your own code instead of one Qasid makes")] | None = None
    ttl: (
        Annotated[int, Meta(ge=60, le=86400, description="seconds the code is valid; default 600")] | None
    ) = None
    locale: Locale = "en"
    brand: (
        Annotated[
            str,
            Meta(
                pattern=r"^[\w .&'-]{1,32}$",
                description="the name in the text; default: the sender ID",
            ),
        ]
        | None
    ) = None
    app_hash: (
        Annotated[str, Meta(pattern=r"^[A-Za-z0-9+/]{11}$", description="Android SMS Retriever app hash")]
        | None
    ) = None
    web_domain: (
        Annotated[
            str,
            Meta(
                pattern=r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                description="adds the WebOTP line '@domain #code'",
            ),
        ]
        | None
    ) = None
    callback_url: (
        Annotated[
            str,
            Meta(
                max_length=2000,
                pattern=r"^https?://",
                description="where verification.status events go (besides the account's webhook endpoints)",
            ),
        ]
        | None
    ) = None
    callback_secret: (
        Annotated[
            str,
            Meta(
                min_length=24,
                max_length=100,
                description="signs the callbacks (Standard Webhooks): whsec_ and base64, or any text of "
                "24+ characters. Without it they go unsigned",
            ),
        ]
        | None
    ) = None

    message_callback: (
        Annotated[
            Callback,
            Meta(
                description="where the message.status events of the code's messages go (the first send, "
                "resends and fallbacks alike), as a send's own callback"
            ),
        ]
        | None
    ) = None


class CheckRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    code: Annotated[str, Meta(min_length=1, max_length=10)]


class SendRecord(Struct, kw_only=True):
    channel: str
    message_id: str | None
    status: Annotated[str | None, Meta(description="the delivery state of the message that carried it")]
    at: datetime


class CheckRecord(Struct, kw_only=True):
    result: str
    at: datetime


class Verification(Struct, kw_only=True):
    id: str
    to: str
    status: Annotated[str, Meta(description="pending, approved, canceled, expired or max_attempts_reached")]
    channel: Annotated[str, Meta(description="the channel in use")]
    channels: list[str]
    locale: str
    attempts_left: int
    code_length: Annotated[int, Meta(description="digits in the code")]
    brand: Annotated[str, Meta(description="the name in the text")]
    sends: int
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    code: Annotated[str | None, Meta(description="only when you supplied it")] = None


class VerificationDetail(Verification, kw_only=True):
    send_history: list[SendRecord]
    checks: list[CheckRecord]


class CheckResult(Struct, kw_only=True):
    id: str
    status: Annotated[
        str,
        Meta(
            description="approved; invalid (a wrong code, attempts_left says how many remain); "
            "expired; canceled; max_attempts_reached"
        ),
    ]
    attempts_left: int


class VerificationPage(Struct, kw_only=True):
    data: list[Verification]
    next_cursor: str | None
