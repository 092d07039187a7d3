"""Request and response shapes of ``/v1/contact-lists``, ``/v1/contacts`` and ``/v1/imports``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

ListName = Annotated[str, Meta(min_length=1, max_length=100)]
Word = Annotated[
    str, Meta(min_length=1, max_length=30, description="an inbound message starting with it joins the list")
]
Fields = Annotated[
    dict[Annotated[str, Meta(min_length=1, max_length=50)], Annotated[str, Meta(max_length=200)]],
    Meta(max_length=20, description="custom fields (text); in templates as {{name}}"),
]


class CreateListRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    name: ListName
    subscribe_word: Word | None = None


class UpdateListRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    name: ListName | UnsetType = UNSET
    subscribe_word: Annotated[Word | None, Meta(description="null: none")] | UnsetType = UNSET


class ContactList(Struct, kw_only=True):
    id: str
    name: str
    subscribe_word: str | None
    contacts: Annotated[int, Meta(description="how many contacts are in it")]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any, size: int) -> ContactList:
        return cls(
            id=row["id"], name=row["name"], subscribe_word=row["subscribe_word"], contacts=size,
            created_at=row["created_at"], updated_at=row["updated_at"],
        )  # fmt: skip


class ContactLists(Struct, kw_only=True):
    data: list[ContactList]


class NewContactRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[
        str, Meta(min_length=1, max_length=32, description="E.164, or national in the account's region")
    ]
    name: Annotated[str, Meta(max_length=200)] | None = None
    fields: Fields | None = None


class UpdateContactRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(max_length=200, description='"" removes it')] | None = None
    fields: (
        Annotated[Fields, Meta(description='merged into the old ones; a field set to "" is removed')] | None
    ) = None


class Contact(Struct, kw_only=True):
    id: str
    number: str
    name: str | None
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> Contact:
        fields = msgspec.json.decode(row["fields"]) if row["fields"] else {}
        return cls(
            id=row["id"], number=row["number"], name=row["name"], fields=fields,
            created_at=row["created_at"], updated_at=row["updated_at"],
        )  # fmt: skip


class ContactDetail(Contact, kw_only=True):
    lists: Annotated[list[str], Meta(description="the lists it is in")]


class ContactPage(Struct, kw_only=True):
    data: list[Contact]
    next_cursor: Annotated[str | None, Meta(description="pass as ?cursor= for the next page")]


class Import(Struct, kw_only=True):
    id: str
    list_id: str
    format: Annotated[str, Meta(description="csv or xlsx")]
    status: Annotated[str, Meta(description="queued, running, done or failed")]
    progress: Annotated[float, Meta(description="share of the file read, 0 to 1")]
    size_bytes: int
    rows_read: int
    rows_added: Annotated[int, Meta(description="new contacts")]
    rows_merged: Annotated[int, Meta(description="numbers the account (or the file) had already: merged")]
    rows_bad: Annotated[int, Meta(description="rows not taken; GET .../errors says which and why")]
    error: Annotated[str | None, Meta(description="why a failed import failed")]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Import:
        size = row["size_bytes"]
        return cls(
            id=row["id"], list_id=row["list_id"], format=row["format"], status=row["status"],
            progress=1.0 if row["status"] == "done" else min(row["bytes_read"] / size, 1.0) if size else 0.0,
            size_bytes=size, rows_read=row["rows_read"], rows_added=row["rows_added"],
            rows_merged=row["rows_merged"], rows_bad=row["rows_bad"], error=row["error"],
            created_at=row["created_at"], finished_at=row["finished_at"],
        )  # fmt: skip


class BadRow(Struct, kw_only=True):
    line: Annotated[int, Meta(description="its line in the file; the header is line 1")]
    reason: Annotated[str, Meta(description="missing, unparsable, invalid_number, landline, ...")]
    detail: str | None


class BadRows(Struct, kw_only=True):
    data: list[BadRow]
    next_after: Annotated[int | None, Meta(description="pass as ?after= for the next page")]
