"""Request and response shapes of ``/v1/sender-ids`` and ``/v1/numbers``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from qasid.senders.records import Destination, Sender


class SenderIdRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Ask for a sender ID; the operator approves or rejects it."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=20,
            description="1-11 letters, digits and spaces with a letter (alphanumeric), or an E.164 number",
            examples=["Acme"],
        ),
    ]
    purpose: (
        Annotated[str, Meta(max_length=300, description="what you send with it, for the operator")] | None
    ) = None


class ShownDestination(Struct, kw_only=True):
    country: Annotated[str, Meta(description='ISO 3166 code, or "*"')]
    operator: Annotated[str, Meta(description='operator, or "*"')]
    price: Annotated[
        int | None,
        Meta(description="minor units per part from this sender there; null: the account's prices"),
    ]


class SenderId(Struct, kw_only=True):
    id: str
    name: str
    kind: Annotated[str, Meta(description="alphanumeric or numeric")]
    status: Annotated[str, Meta(description="pending, approved or rejected; only approved ones send")]
    purpose: str | None
    reason: Annotated[str | None, Meta(description="why it was rejected")]
    destinations: Annotated[
        list[ShownDestination],
        Meta(description="where it was approved to go; empty: everywhere, at the account's prices"),
    ]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sender: Sender, destinations: list[Destination]) -> SenderId:
        shown = [
            ShownDestination(country=d.country, operator=d.operator, price=d.price) for d in destinations
        ]
        return cls(
            id=sender.id, name=sender.name, kind=sender.kind.value, status=sender.status.value,
            purpose=sender.purpose, reason=sender.reason, destinations=shown,
            created_at=sender.created_at, updated_at=sender.updated_at,
        )  # fmt: skip


class SenderIdList(Struct, kw_only=True):
    data: list[SenderId]


class Number(Struct, kw_only=True):
    number: Annotated[
        str, Meta(description="E.164; a sender of the account, and where its inbound messages come")
    ]
    assigned_at: datetime | None


class NumberList(Struct, kw_only=True):
    data: list[Number]
