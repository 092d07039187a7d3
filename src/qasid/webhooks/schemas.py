"""Request and response shapes of ``/v1/webhooks`` (msgspec structs; the OpenAPI schema is generated
from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from msgspec import Meta, Struct

EventName = Literal["message.status", "verification.status", "inbound.message", "webhook.disabled"]
ALL_EVENT_NAMES: tuple[EventName, ...] = get_args(EventName)
StatusesName = Literal["all", "final"]
FormatName = Literal["standard", "smsapi"]
Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2000,
        description="http:// or https://; public addresses only, unless the operator allows a network",
        examples=["https://example.com/qasid/events"],
    ),
]


class CreateEndpointRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Where to push the account's events."""

    url: Url
    events: (
        Annotated[
            list[EventName],
            Meta(min_length=1, description="the events it receives; default: all of them (standard format)"),
        ]
        | None
    ) = None
    statuses: Annotated[
        StatusesName, Meta(description="message.status: every state change (all) or final states only")
    ] = "all"
    description: Annotated[str, Meta(max_length=200)] | None = None
    format: Annotated[
        FormatName,
        Meta(
            description="standard: a signed POST (Standard Webhooks); smsapi: the key/brandID provider's "
            "GET with key, smsID, number, statusID and date (message.status only; docs/migrating/smsapi.md)"
        ),
    ] = "standard"
    secret: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=200,
                description="standard: your own signing secret (whsec_..., or any text) instead of a new "
                "one; smsapi: the callback validation key sent as key (required)",
            ),
        ]
        | None
    ) = None


class UpdateEndpointRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Change what is given; ``enabled: true`` turns a disabled endpoint back on and sends what waited."""

    url: Url | None = None
    events: Annotated[list[EventName], Meta(min_length=1)] | None = None
    statuses: StatusesName | None = None
    description: Annotated[str, Meta(max_length=200)] | None = None
    enabled: bool | None = None


class Endpoint(Struct, kw_only=True):
    id: str
    url: str
    description: str | None
    events: list[str]
    statuses: str
    format: str
    enabled: bool
    disabled_reason: Annotated[str | None, Meta(description="why it was disabled")]
    failures: Annotated[int, Meta(description="failed tries in a row")]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> Endpoint:
        return cls(
            id=row["id"],
            url=row["url"],
            description=row["description"],
            events=row["events"].split(","),
            statuses=row["statuses"],
            format=row["format"],
            enabled=bool(row["enabled"]),
            disabled_reason=row["disabled_reason"],
            failures=row["failures"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class EndpointWithSecret(Endpoint, kw_only=True):
    secret: Annotated[
        str,
        Meta(
            description="the signing secret (Standard Webhooks, whsec_...), or the key an smsapi "
            "endpoint sends; shown this once only"
        ),
    ]


class EndpointList(Struct, kw_only=True):
    data: list[Endpoint]


class Attempt(Struct, kw_only=True):
    at: datetime
    url: str
    status_code: Annotated[int | None, Meta(description="null when no answer came")]
    latency_ms: int
    error: str | None
    response: Annotated[str | None, Meta(description="the first KiB of the answer")]


class Delivery(Struct, kw_only=True):
    id: str
    event_id: Annotated[str, Meta(description="the webhook-id header: the same on every try and replay")]
    event_type: str
    subject_id: Annotated[str, Meta(description="the message, verification or inbound message")]
    sequence: int
    endpoint_id: Annotated[str | None, Meta(description="null for a request's own callback")]
    url: Annotated[str | None, Meta(description="a request's own callback URL")]
    status: Annotated[str, Meta(description="pending, delivered or failed")]
    attempts: int
    next_try_at: Annotated[datetime | None, Meta(description="when a pending delivery is tried next")]
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> Delivery:
        return cls(
            id=row["id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            subject_id=row["subject_id"],
            sequence=row["sequence"],
            endpoint_id=row["endpoint_id"],
            url=row["url"],
            status=row["status"],
            attempts=row["attempts"],
            next_try_at=row["run_at"] if row["status"] == "pending" else None,
            last_error=row["last_error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class DeliveryDetail(Delivery, kw_only=True):
    payload: Annotated[dict[str, Any], Meta(description="the body, exactly as it is sent")]
    tries: list[Attempt]


class DeliveryPage(Struct, kw_only=True):
    data: list[Delivery]
    next_cursor: Annotated[
        str | None, Meta(description="pass as ?cursor= for the next page; null at the end")
    ]


class Callback(Struct, forbid_unknown_fields=True, kw_only=True):
    """Where this request's own status events go, besides the account's endpoints."""

    url: Url
    statuses: Annotated[StatusesName, Meta(description="every state change (all) or the final one")] = "all"
    secret: (
        Annotated[
            str,
            Meta(
                min_length=24,
                max_length=100,
                description="signs the callbacks (Standard Webhooks); whsec_ and base64, or any text of "
                "24+ characters. Without it they go unsigned",
            ),
        ]
        | None
    ) = None
