"""``/v1/inbound-messages``, ``/v1/stop-list`` and ``/v1/block-list``: what phones wrote to the
account, and who must not be sent to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, QueryParameter

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.api.v1 import filters
from qasid.domain import ids
from qasid.errors import InvalidRequest
from qasid.inbound.repository import InboundFilter
from qasid.inbound.schemas import InboundMessage, InboundPage, KeywordsRequest, KeywordsShown
from qasid.optout.schemas import AddNumberRequest, ListedNumber, ListPage

_number_decoder = msgspec.json.Decoder(AddNumberRequest)
_keywords_decoder = msgspec.json.Decoder(KeywordsRequest)
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]


@get("/inbound-messages", tags=["inbound"], responses=problem_responses(401, 422))
async def list_inbound(
    request: Request[Any, Any, Any],
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    from_: Annotated[str | None, QueryParameter(name="from", description="only from this number")] = None,
    to: Annotated[str | None, QueryParameter(description="only to this number of the account")] = None,
    received_after: Annotated[datetime | None, QueryParameter(description="inclusive, RFC 3339")] = None,
    received_before: Annotated[datetime | None, QueryParameter(description="exclusive, RFC 3339")] = None,
) -> InboundPage:
    """Messages phones sent to the account's numbers, newest first (also pushed as
    ``inbound.message`` webhooks)."""
    caller = await authenticated(request)
    if cursor is not None and not ids.is_valid("inb", cursor):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    upper = ids.lower_bound("inb", before) if (before := filters.aware(received_before)) else None
    if cursor is not None:
        upper = min(upper, cursor) if upper else cursor
    where = InboundFilter(
        sender=filters.number(from_, caller.default_region, "from"),
        recipient=filters.number(to, caller.default_region),
        id_from=ids.lower_bound("inb", after) if (after := filters.aware(received_after)) else None,
        id_before=upper,
    )
    return await services(request).inbound.page(caller, where, limit)


@get("/inbound-messages/{inbound_id:str}", tags=["inbound"], responses=problem_responses(401, 404))
async def get_inbound(request: Request[Any, Any, Any], inbound_id: FromPath[str]) -> InboundMessage:
    caller = await authenticated(request)
    return await services(request).inbound.get(caller, inbound_id)


@get("/stop-list", tags=["opt-out"], responses=problem_responses(401))
async def list_stopped(
    request: Request[Any, Any, Any], *, limit: Limit = 100, cursor: Cursor = None
) -> ListPage:
    """Numbers that opted out of the account's messages (they sent a stop word, or were added),
    in number order. Sends to them are refused per recipient (``stopped``) unless the send says
    ``"stop_list": false``."""
    caller = await authenticated(request)
    return await services(request).stop_list.page(caller, cursor, limit)


@post("/stop-list", status_code=201, tags=["opt-out"], responses=problem_responses(400, 401, 422, 503))
@request_body(AddNumberRequest)
async def add_stopped(request: Request[Any, Any, Any]) -> ListedNumber:
    """Put a number on the stop-list, as if it had sent a stop word."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _number_decoder)
    return await services(request).stop_list.add(caller, body)


@delete("/stop-list/{number:str}", tags=["opt-out"], responses=problem_responses(401, 404, 422, 503))
async def remove_stopped(request: Request[Any, Any, Any], number: FromPath[str]) -> None:
    """Take a number off the stop-list (it may be sent to again), as a start word does."""
    caller = await authenticated(request)
    await services(request).stop_list.remove(caller, number)


@get("/stop-list/keywords", tags=["opt-out"], responses=problem_responses(401))
async def get_keywords(request: Request[Any, Any, Any]) -> KeywordsShown:
    """The words that put a sender on the stop-list (stop) and take it off (start)."""
    caller = await authenticated(request)
    return await services(request).inbound.keywords(caller)


@put("/stop-list/keywords", tags=["opt-out"], responses=problem_responses(400, 401, 422, 503))
@request_body(KeywordsRequest)
async def set_keywords(request: Request[Any, Any, Any]) -> KeywordsShown:
    """Replace the account's stop or start words (null: the built-in ones). A message is a keyword
    when its first word is one, ignoring case, Arabic diacritics and letter variants."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _keywords_decoder)
    return await services(request).inbound.set_keywords(caller, body)


@get("/block-list", tags=["opt-out"], responses=problem_responses(401))
async def list_blocked(
    request: Request[Any, Any, Any], *, limit: Limit = 100, cursor: Cursor = None
) -> ListPage:
    """Numbers the account never sends to (the operator keeps one for every account too)."""
    caller = await authenticated(request)
    return await services(request).block_list.page(caller, cursor, limit)


@post("/block-list", status_code=201, tags=["opt-out"], responses=problem_responses(400, 401, 422, 503))
@request_body(AddNumberRequest)
async def add_blocked(request: Request[Any, Any, Any]) -> ListedNumber:
    """Block a number: sends to it are refused per recipient (``blocked``), whatever they say."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _number_decoder)
    return await services(request).block_list.add(caller, body)


@delete("/block-list/{number:str}", tags=["opt-out"], responses=problem_responses(401, 404, 422, 503))
async def remove_blocked(request: Request[Any, Any, Any], number: FromPath[str]) -> None:
    caller = await authenticated(request)
    await services(request).block_list.remove(caller, number)


handlers = [
    list_inbound,
    get_inbound,
    list_stopped,
    add_stopped,
    get_keywords,
    set_keywords,
    remove_stopped,
    list_blocked,
    add_blocked,
    remove_blocked,
]
