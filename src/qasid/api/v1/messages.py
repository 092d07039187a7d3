"""``/v1/messages``: send, read, list and cancel SMS."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, cast

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from qasid.accounts.records import Caller
from qasid.api.deps import authenticated, header, read_body, services
from qasid.api.middleware import request_id_of
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.api.v1 import filters
from qasid.domain.states import MessageStatus
from qasid.errors import InvalidRequest
from qasid.messages.reading import MessageQuery
from qasid.messages.schemas import MessageDetail, MessagePage, SendMessageRequest, SendMessageResponse
from qasid.metrics import ACCEPT_LATENCY
from qasid.runtime import Runtime

_send_decoder = msgspec.json.Decoder(SendMessageRequest)
MAX_IDEMPOTENCY_KEY = 255


@post(
    "/messages",
    status_code=202,
    tags=["messages"],
    responses=problem_responses(400, 401, 402, 403, 413, 422, 503),
)
@request_body(SendMessageRequest)
async def send_message(request: Request[Any, Any, Any]) -> Response[SendMessageResponse]:
    """Accept one text for 1-500 recipients; invalid recipients are listed and do not block the rest.

    With an ``Idempotency-Key`` header, a repeat of the same request returns the first response
    (with ``Idempotent-Replayed: true``) and charges nothing."""
    started = time.perf_counter()
    caller = await authenticated(request)
    key = header(request, b"idempotency-key")
    raw = await read_body(request)
    request_id = request_id_of(request.scope)
    status, body, replayed = await accept(
        services(request), caller, raw, key, request_id=request_id, started=started
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    # The body is a SendMessageResponse already encoded in the write transaction (so a replay can
    # return it byte for byte); Litestar sends bytes as they are.
    return Response(
        cast("SendMessageResponse", body), status_code=status, media_type="application/json", headers=headers
    )


async def accept(
    runtime: Runtime, caller: Caller, raw: bytes, key: str | None, *, request_id: str | None, started: float
) -> tuple[int, bytes, bool]:
    """What a send does once the caller is known and the body read (shared with the fast lane,
    qasid.api.fastlane): the status, the encoded answer and whether it was replayed."""
    send = decode_body(raw, _send_decoder)
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            errors=[{"field": "Idempotency-Key", "message": "length"}],
        )
    outcome = await runtime.messages.send(caller, send, idempotency_key=key, request_id=request_id)
    ACCEPT_LATENCY.observe(time.perf_counter() - started)
    return outcome.status_code, outcome.body, outcome.replayed


@get("/messages/{message_id:str}", tags=["messages"], responses=problem_responses(401, 403, 404))
async def get_message(request: Request[Any, Any, Any], message_id: FromPath[str]) -> MessageDetail:
    """One message with its status history."""
    caller = await authenticated(request)
    return await services(request).messages.get(caller, message_id)


@post(
    "/messages/{message_id:str}/cancel",
    status_code=200,
    tags=["messages"],
    responses=problem_responses(401, 403, 404, 409),
)
async def cancel_message(request: Request[Any, Any, Any], message_id: FromPath[str]) -> MessageDetail:
    """Cancel a scheduled message and refund its price. Anything past scheduled is a 409."""
    caller = await authenticated(request)
    return await services(request).messages.cancel(caller, message_id)


@get("/messages", tags=["messages"], responses=problem_responses(401, 403, 422))
async def list_messages(
    request: Request[Any, Any, Any],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="page size")] = 50,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    status: Annotated[MessageStatus | None, QueryParameter(description="only this status")] = None,
    to: Annotated[str | None, QueryParameter(description="recipient, E.164 or national")] = None,
    batch_id: Annotated[str | None, QueryParameter(description="only this batch")] = None,
    created_after: Annotated[datetime | None, QueryParameter(description="inclusive, RFC 3339")] = None,
    created_before: Annotated[datetime | None, QueryParameter(description="exclusive, RFC 3339")] = None,
) -> MessagePage:
    """The account's messages, newest first, a page at a time."""
    caller = await authenticated(request)
    recipient = filters.number(to, caller.default_region)
    query = MessageQuery(
        limit=limit,
        cursor=cursor,
        status=status.value if status else None,
        recipient=recipient,
        batch_id=batch_id,
        created_after=filters.aware(created_after),
        created_before=filters.aware(created_before),
    )
    return await services(request).messages.list(caller, query)


handlers = [send_message, get_message, cancel_message, list_messages]
