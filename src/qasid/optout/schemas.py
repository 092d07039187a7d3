"""Request and response shapes of ``/v1/stop-list`` and ``/v1/block-list``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct


class ListedNumber(Struct, kw_only=True):
    number: str
    source: Annotated[str, Meta(description="keyword (the number sent a stop word), api or cli")]
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> ListedNumber:
        return cls(number=row["number"], source=row["source"], note=row["note"], created_at=row["created_at"])


class ListPage(Struct, kw_only=True):
    data: list[ListedNumber]
    next_cursor: Annotated[str | None, Meta(description="pass as ?cursor= for the next page")]


class AddNumberRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[str, Meta(min_length=1, max_length=32, description="E.164, or national")]
    note: Annotated[str, Meta(max_length=300)] | None = None
