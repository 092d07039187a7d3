"""``/v1/sender-ids`` and ``/v1/numbers``: what the account may send as."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.senders.schemas import NumberList, SenderId, SenderIdList, SenderIdRequest

_request_decoder = msgspec.json.Decoder(SenderIdRequest)


@post("/sender-ids", status_code=201, tags=["senders"], responses=problem_responses(400, 401, 409, 422, 503))
@request_body(SenderIdRequest)
async def request_sender_id(request: Request[Any, Any, Any]) -> SenderId:
    """Ask for a sender ID. It is ``pending`` until the operator approves it (everywhere, or for
    some operators, each maybe at its own price) or rejects it with a reason; only approved ones
    send."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _request_decoder)
    return await services(request).senders.request(caller, body)


@get("/sender-ids", tags=["senders"], responses=problem_responses(401))
async def list_sender_ids(request: Request[Any, Any, Any]) -> SenderIdList:
    """The account's sender IDs, with their status and where they were approved to go."""
    caller = await authenticated(request)
    return await services(request).senders.listed(caller)


@get("/sender-ids/{sender_id:str}", tags=["senders"], responses=problem_responses(401, 404))
async def get_sender_id(request: Request[Any, Any, Any], sender_id: FromPath[str]) -> SenderId:
    caller = await authenticated(request)
    return await services(request).senders.get(caller, sender_id)


@get("/numbers", tags=["senders"], responses=problem_responses(401))
async def list_numbers(request: Request[Any, Any, Any]) -> NumberList:
    """The long numbers assigned to the account: each is one of its senders and receives its
    inbound messages."""
    caller = await authenticated(request)
    return await services(request).senders.numbers(caller)


handlers = [request_sender_id, list_sender_ids, get_sender_id, list_numbers]
