"""Use cases about templates: kept per account, checked when written, filled for a preview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from anyio import to_thread
from sqlalchemy import Connection, RowMapping

from qasid.accounts.records import Caller
from qasid.billing.records import Channel
from qasid.billing.service import price_list
from qasid.contacts.service import require_contact
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.domain import ids
from qasid.domain.encoding import analyze
from qasid.domain.phone import Refusal, parse_recipient
from qasid.domain.templates import TemplateError, render, variables
from qasid.errors import InvalidRequest, NotFound, TemplateExists
from qasid.templates.repository import TemplateRepository
from qasid.templates.schemas import (
    CreateTemplateRequest,
    Preview,
    PreviewRequest,
    Template,
    TemplateList,
    UpdateTemplateRequest,
)


def checked(body: str) -> str:
    try:
        variables(body)
    except TemplateError as exc:
        raise InvalidRequest(
            f"invalid template: {exc}", errors=[{"field": "body", "message": str(exc)}]
        ) from exc
    return body


def require(conn: Connection, account_id: str, template_id: str) -> RowMapping:
    found = TemplateRepository(conn).get(account_id, template_id)
    if found is None:
        raise NotFound(f"no template {template_id!r}")
    return found


def values_for(
    name: str | None, fields: str | None, number: str, params: dict[str, str] | None
) -> dict[str, str | None]:
    """What fills a template for one recipient: their contact's fields (as stored, JSON), name and
    number, over the parameters given."""
    own: dict[str, str | None] = {**(msgspec.json.decode(fields) if fields else {}), "name": name}
    return {**(params or {}), **{k: v for k, v in own.items() if v}, "number": number}


class Templates:
    """What the API does with templates."""

    def __init__(self, db: Database, writer: GroupCommitWriter) -> None:
        self.db = db
        self.writer = writer

    async def create(self, caller: Caller, body: CreateTemplateRequest) -> Template:
        text = checked(body.body)

        def write(conn: Connection) -> Template:
            repo = TemplateRepository(conn)
            if repo.named(caller.account_id, body.name) is not None:
                raise TemplateExists(f"the account has a template named {body.name!r} already")
            now, template_id = datetime.now(UTC), ids.new_id("tpl")
            repo.insert({"id": template_id, "account_id": caller.account_id, "name": body.name, "body": text,
                         "created_at": now, "updated_at": now})  # fmt: skip
            return Template.of(require(conn, caller.account_id, template_id))

        return await self.writer.submit(Apply(write))

    async def change(self, caller: Caller, template_id: str, body: UpdateTemplateRequest) -> Template:
        values: dict[str, Any] = {}
        if body.body is not None:
            values["body"] = checked(body.body)

        def write(conn: Connection) -> Template:
            found = require(conn, caller.account_id, template_id)
            repo = TemplateRepository(conn)
            if body.name is not None and body.name != found["name"]:
                if repo.named(caller.account_id, body.name) is not None:
                    raise TemplateExists(f"the account has a template named {body.name!r} already")
                values["name"] = body.name
            if values:
                repo.change(template_id, datetime.now(UTC), **values)
            return Template.of(require(conn, caller.account_id, template_id))

        return await self.writer.submit(Apply(write))

    async def delete(self, caller: Caller, template_id: str) -> None:
        def write(conn: Connection) -> None:
            require(conn, caller.account_id, template_id)
            TemplateRepository(conn).delete(template_id)

        await self.writer.submit(Apply(write))

    async def listed(self, caller: Caller) -> TemplateList:
        def read() -> TemplateList:
            with self.db.read() as conn:
                return TemplateList(
                    data=[Template.of(r) for r in TemplateRepository(conn).of_account(caller.account_id)]
                )

        return await to_thread.run_sync(read)

    async def get(self, caller: Caller, template_id: str) -> Template:
        def read() -> Template:
            with self.db.read() as conn:
                return Template.of(require(conn, caller.account_id, template_id))

        return await to_thread.run_sync(read)

    async def preview(self, caller: Caller, template_id: str, body: PreviewRequest) -> Preview:
        def read() -> Preview:
            with self.db.read() as conn:
                template = require(conn, caller.account_id, template_id)
                contact = (
                    require_contact(conn, caller.account_id, body.contact_id) if body.contact_id else None
                )
                prices = price_list(conn, caller.account_id, caller.currency)
            raw = contact["number"] if contact is not None else body.to
            if raw is None:
                message = "give contact_id or to"
                raise InvalidRequest(message, errors=[{"field": "to", "message": message}])
            recipient = parse_recipient(raw, caller.default_region)
            if isinstance(recipient, Refusal):
                raise InvalidRequest(recipient.detail, errors=[{"field": "to", "message": recipient.reason}])
            name, fields = (contact["name"], contact["fields"]) if contact is not None else (None, None)
            filled = render(template["body"], values_for(name, fields, recipient.e164, body.params))
            info = analyze(filled.text)
            unit = prices.price(recipient.country, recipient.operator, Channel.SMS)
            return Preview(
                text=filled.text, encoding=info.encoding.value, segments=info.segments, units=info.units,
                to=recipient.e164, price=None if unit is None else unit * info.segments,
                currency=caller.currency, missing=list(filled.missing),
            )  # fmt: skip

        return await to_thread.run_sync(read)
