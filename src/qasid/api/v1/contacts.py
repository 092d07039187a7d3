"""``/v1/contact-lists``, ``/v1/contacts`` and ``/v1/imports``: the account's contacts, its lists, and
files of contacts read into them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, QueryParameter

from qasid.api.deps import authenticated, header, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.api.v1 import filters
from qasid.contacts.reading import FileFormat
from qasid.contacts.repository import ContactFilter
from qasid.contacts.schemas import (
    BadRows,
    ContactDetail,
    ContactList,
    ContactLists,
    ContactPage,
    CreateListRequest,
    Import,
    NewContactRequest,
    UpdateContactRequest,
    UpdateListRequest,
)
from qasid.domain import ids
from qasid.errors import InvalidRequest

_create_list = msgspec.json.Decoder(CreateListRequest)
_update_list = msgspec.json.Decoder(UpdateListRequest)
_new_contact = msgspec.json.Decoder(NewContactRequest)
_update_contact = msgspec.json.Decoder(UpdateContactRequest)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_CEILING = (
    1024 * 1024 * 1024
)  # the handler's own bound; QASID_MAX_IMPORT_BYTES is checked as it streams


@post(
    "/contact-lists", status_code=201, tags=["contacts"], responses=problem_responses(400, 401, 409, 422, 503)
)
@request_body(CreateListRequest)
async def create_list(request: Request[Any, Any, Any]) -> ContactList:
    """A new list. With a ``subscribe_word``, a message to one of the account's numbers that starts
    with it adds the sender to the list (a stop word takes them out of every list)."""
    caller = await authenticated(request)
    return await services(request).contacts.create_list(
        caller, decode_body(await request.body(), _create_list)
    )


@get("/contact-lists", tags=["contacts"], responses=problem_responses(401))
async def list_lists(request: Request[Any, Any, Any]) -> ContactLists:
    """The account's lists and how many contacts each has."""
    caller = await authenticated(request)
    return await services(request).contacts.lists(caller)


@get("/contact-lists/{list_id:str}", tags=["contacts"], responses=problem_responses(401, 404))
async def get_list(request: Request[Any, Any, Any], list_id: FromPath[str]) -> ContactList:
    caller = await authenticated(request)
    return await services(request).contacts.get_list(caller, list_id)


@patch(
    "/contact-lists/{list_id:str}",
    tags=["contacts"],
    responses=problem_responses(400, 401, 404, 409, 422, 503),
)
@request_body(UpdateListRequest)
async def update_list(request: Request[Any, Any, Any], list_id: FromPath[str]) -> ContactList:
    caller = await authenticated(request)
    body = decode_body(await request.body(), _update_list)
    return await services(request).contacts.change_list(caller, list_id, body)


@delete("/contact-lists/{list_id:str}", tags=["contacts"], responses=problem_responses(401, 404, 503))
async def delete_list(request: Request[Any, Any, Any], list_id: FromPath[str]) -> None:
    """Remove a list; its contacts stay (in the account and its other lists)."""
    caller = await authenticated(request)
    await services(request).contacts.delete_list(caller, list_id)


@post(
    "/contact-lists/{list_id:str}/contacts",
    status_code=201,
    tags=["contacts"],
    responses=problem_responses(400, 401, 404, 422, 503),
)
@request_body(NewContactRequest)
async def add_to_list(request: Request[Any, Any, Any], list_id: FromPath[str]) -> ContactDetail:
    """Add a contact to the list: a number the account has already is that contact (its name
    replaced, its fields merged), not a second one."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _new_contact)
    return await services(request).contacts.add_contact(caller, list_id, body)


@delete(
    "/contact-lists/{list_id:str}/contacts/{contact_id:str}",
    tags=["contacts"],
    responses=problem_responses(401, 404, 503),
)
async def remove_from_list(
    request: Request[Any, Any, Any], list_id: FromPath[str], contact_id: FromPath[str]
) -> None:
    """Take a contact out of the list (it stays in the account)."""
    caller = await authenticated(request)
    await services(request).contacts.remove_from_list(caller, list_id, contact_id)


@post(
    "/contact-lists/{list_id:str}/imports",
    status_code=202,
    tags=["contacts"],
    responses=problem_responses(401, 404, 413, 422, 503),
    request_max_body_size=UPLOAD_CEILING,
)
async def import_contacts(
    request: Request[Any, Any, Any],
    list_id: FromPath[str],
    *,
    format_: Annotated[
        Literal["csv", "xlsx"] | None,
        QueryParameter(name="format", description="default: from the Content-Type (text/csv, or XLSX's)"),
    ] = None,
) -> Import:
    """Upload a CSV (UTF-8; comma, semicolon or tab) or XLSX file of contacts as the body. Its first
    row names the columns: a number column (number, phone, mobile or msisdn) and optionally name and
    custom fields. It is read by a worker in the background: follow ``GET /v1/imports/{id}``; every
    row not taken is listed with its line and reason at ``GET /v1/imports/{id}/errors``."""
    caller = await authenticated(request)
    file_format = _format(format_, header(request, b"content-type"))
    return await services(request).contacts.upload(caller, list_id, file_format, request.stream())


def _format(asked: str | None, content_type: str | None) -> FileFormat:
    if asked is not None:
        return FileFormat(asked)
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == XLSX:
        return FileFormat.XLSX
    if kind in ("text/csv", "application/csv", "text/plain"):
        return FileFormat.CSV
    message = f"send text/csv or {XLSX}, or say ?format=csv|xlsx"
    raise InvalidRequest(f"unknown file type {kind!r}", errors=[{"field": "format", "message": message}])


@get("/imports/{import_id:str}", tags=["contacts"], responses=problem_responses(401, 404))
async def get_import(request: Request[Any, Any, Any], import_id: FromPath[str]) -> Import:
    """How far an import is: the share of the file read, contacts added and merged, rows not taken."""
    caller = await authenticated(request)
    return await services(request).contacts.get_import(caller, import_id)


@get("/imports/{import_id:str}/errors", tags=["contacts"], responses=problem_responses(401, 404))
async def import_errors(
    request: Request[Any, Any, Any],
    import_id: FromPath[str],
    *,
    after: Annotated[int, QueryParameter(ge=0, description="lines after this one")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> BadRows:
    """Every row the import did not take, by line: why, and what it held."""
    caller = await authenticated(request)
    return await services(request).contacts.bad_rows(caller, import_id, after, limit)


@get("/contacts", tags=["contacts"], responses=problem_responses(401, 404, 422))
async def list_contacts(
    request: Request[Any, Any, Any],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    list_id: Annotated[str | None, QueryParameter(description="only this list's")] = None,
    number: Annotated[str | None, QueryParameter(description="only this number")] = None,
) -> ContactPage:
    """The account's contacts, newest first."""
    caller = await authenticated(request)
    if cursor is not None and not ids.is_valid("cnt", cursor):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    where = ContactFilter(
        number=filters.number(number, caller.default_region, "number"), list_id=list_id, id_before=cursor
    )
    return await services(request).contacts.contacts(caller, where, limit)


@get("/contacts/{contact_id:str}", tags=["contacts"], responses=problem_responses(401, 404))
async def get_contact(request: Request[Any, Any, Any], contact_id: FromPath[str]) -> ContactDetail:
    caller = await authenticated(request)
    return await services(request).contacts.contact(caller, contact_id)


@patch("/contacts/{contact_id:str}", tags=["contacts"], responses=problem_responses(400, 401, 404, 422, 503))
@request_body(UpdateContactRequest)
async def update_contact(request: Request[Any, Any, Any], contact_id: FromPath[str]) -> ContactDetail:
    caller = await authenticated(request)
    body = decode_body(await request.body(), _update_contact)
    return await services(request).contacts.change_contact(caller, contact_id, body)


@delete("/contacts/{contact_id:str}", tags=["contacts"], responses=problem_responses(401, 404, 503))
async def delete_contact(request: Request[Any, Any, Any], contact_id: FromPath[str]) -> None:
    """Remove a contact from the account and every list."""
    caller = await authenticated(request)
    await services(request).contacts.delete_contact(caller, contact_id)


handlers = [
    create_list,
    list_lists,
    get_list,
    update_list,
    delete_list,
    add_to_list,
    remove_from_list,
    import_contacts,
    get_import,
    import_errors,
    list_contacts,
    get_contact,
    update_contact,
    delete_contact,
]
