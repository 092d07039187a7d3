"""Request and response shapes of ``/v1/inbound-messages`` and ``/v1/stop-list/keywords``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

Word = Annotated[str, Meta(min_length=1, max_length=30, pattern=r"^[^,\s]+$")]


class InboundMessage(Struct, kw_only=True):
    id: str
    from_: Annotated[str, Meta(description="the phone that wrote")] = msgspec.field(name="from")
    to: Annotated[str, Meta(description="the account's number it wrote to")]
    text: str
    parts: Annotated[int, Meta(description="how many parts it came in")]
    received_at: datetime

    @classmethod
    def of(cls, row: Any) -> InboundMessage:
        return cls(
            id=row["id"], from_=row["sender"], to=row["recipient"], text=row["body"], parts=row["parts"],
            received_at=row["received_at"],
        )  # fmt: skip


class InboundPage(Struct, kw_only=True):
    data: list[InboundMessage]
    next_cursor: Annotated[str | None, Meta(description="pass as ?cursor= for the next page")]


class KeywordsRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """The account's own opt-out (stop) and opt-in (start) words; null puts back the built-in ones."""

    stop: Annotated[list[Word], Meta(min_length=1, max_length=30)] | None = None
    start: Annotated[list[Word], Meta(min_length=1, max_length=30)] | None = None


class KeywordsShown(Struct, kw_only=True):
    stop: list[str]
    start: list[str]
    own_stop: Annotated[bool, Meta(description="whether the stop words are the account's own")]
    own_start: bool
