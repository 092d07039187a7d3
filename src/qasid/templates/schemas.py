"""Request and response shapes of ``/v1/templates``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from qasid.domain.templates import variables

Body = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=10_000,
        description="text with {{variables}} ({{name}}, {{name|default}}): contact fields, name, number, "
        "or parameters given when it is used",
        examples=["Hi {{name|there}}, your order {{order}} has shipped."],
    ),
]
Params = Annotated[
    dict[Annotated[str, Meta(max_length=50)], Annotated[str, Meta(max_length=500)]], Meta(max_length=50)
]


class CreateTemplateRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    body: Body


class UpdateTemplateRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    body: Body | None = None


class Template(Struct, kw_only=True):
    id: str
    name: str
    body: str
    variables: Annotated[list[str], Meta(description="the variables it uses")]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> Template:
        return cls(
            id=row["id"], name=row["name"], body=row["body"], variables=variables(row["body"]),
            created_at=row["created_at"], updated_at=row["updated_at"],
        )  # fmt: skip


class TemplateList(Struct, kw_only=True):
    data: list[Template]


class PreviewRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Fill the template for one recipient: a contact of the account, or a number; ``params`` fill
    what the contact's own fields do not."""

    contact_id: str | None = None
    to: Annotated[str, Meta(max_length=32, description="a number, when there is no contact")] | None = None
    params: Params | None = None


class Preview(Struct, kw_only=True):
    text: str
    encoding: Annotated[str, Meta(description="gsm7 or ucs2")]
    segments: Annotated[int, Meta(description="parts it goes in")]
    units: Annotated[int, Meta(description="GSM-7 septets or UCS-2 units")]
    to: str
    price: Annotated[int | None, Meta(description="minor units for this recipient: parts x price per part")]
    currency: str
    missing: Annotated[list[str], Meta(description="variables that had no value and no default (left empty)")]
