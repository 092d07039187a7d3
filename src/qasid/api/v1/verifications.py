"""``/v1/verifications``: one-time codes sent, checked, canceled, resent and searched."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, QueryParameter

from qasid.accounts.records import Caller
from qasid.api.deps import authenticated, read_body, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.api.v1 import filters
from qasid.domain import ids
from qasid.errors import InvalidRequest
from qasid.otp.repository import VerificationFilter
from qasid.otp.schemas import (
    CheckRequest,
    CheckResult,
    CreateVerificationRequest,
    Verification,
    VerificationDetail,
    VerificationPage,
)
from qasid.runtime import Runtime

_create_decoder = msgspec.json.Decoder(CreateVerificationRequest)
_check_decoder = msgspec.json.Decoder(CheckRequest)
Status = Literal["pending", "approved", "canceled", "expired", "max_attempts_reached"]


@post(
    "/verifications",
    status_code=201,
    tags=["verifications"],
    responses=problem_responses(400, 401, 402, 403, 422, 429, 503),
)
@request_body(CreateVerificationRequest)
async def create_verification(request: Request[Any, Any, Any]) -> Verification:
    """Make a code (or take yours) and send it over the first channel of the workflow.

    The answer never holds the code unless you supplied it. Limits per number and per account are
    answered with 429 and a ``Retry-After``."""
    caller = await authenticated(request)
    return await create(services(request), caller, await read_body(request))


@post(
    "/verifications/{verification_id:str}/check",
    status_code=200,
    tags=["verifications"],
    responses=problem_responses(400, 401, 404, 409, 422, 503),
)
@request_body(CheckRequest)
async def check_verification(request: Request[Any, Any, Any], verification_id: FromPath[str]) -> CheckResult:
    """Check a code: ``approved`` once, or ``invalid`` with the attempts left, ``expired``,
    ``canceled`` or ``max_attempts_reached``. An approved verification answers 409."""
    caller = await authenticated(request)
    return await check(services(request), caller, await read_body(request), verification_id)


# What the two calls do once the caller is known and the body read: shared with the fast lane
# (qasid.api.fastlane), which answers them without Litestar's routing.


async def create(runtime: Runtime, caller: Caller, raw: bytes) -> Verification:
    return await runtime.verifications.create(caller, decode_body(raw, _create_decoder))


async def check(runtime: Runtime, caller: Caller, raw: bytes, verification_id: str) -> CheckResult:
    body = decode_body(raw, _check_decoder)
    return await runtime.verifications.check(caller, verification_id, body.code)


@post(
    "/verifications/{verification_id:str}/cancel",
    status_code=200,
    tags=["verifications"],
    responses=problem_responses(401, 404, 409, 503),
)
async def cancel_verification(
    request: Request[Any, Any, Any], verification_id: FromPath[str]
) -> VerificationDetail:
    """Cancel a pending verification; its code stops working."""
    caller = await authenticated(request)
    return await services(request).verifications.cancel(caller, verification_id)


@post(
    "/verifications/{verification_id:str}/resend",
    status_code=200,
    tags=["verifications"],
    responses=problem_responses(401, 402, 404, 409, 503),
)
async def resend_verification(
    request: Request[Any, Any, Any], verification_id: FromPath[str]
) -> VerificationDetail:
    """Send the same code again, while it is valid (at most 5 sends in all, by default)."""
    caller = await authenticated(request)
    return await services(request).verifications.resend(caller, verification_id)


@get("/verifications/{verification_id:str}", tags=["verifications"], responses=problem_responses(401, 404))
async def get_verification(
    request: Request[Any, Any, Any], verification_id: FromPath[str]
) -> VerificationDetail:
    """One verification with every send (channel, message, delivery state) and every check."""
    caller = await authenticated(request)
    return await services(request).verifications.get(caller, verification_id)


@get("/verifications", tags=["verifications"], responses=problem_responses(401, 422))
async def list_verifications(
    request: Request[Any, Any, Any],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="page size")] = 50,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    status: Annotated[Status | None, QueryParameter(description="only this status")] = None,
    to: Annotated[str | None, QueryParameter(description="only this number, E.164 or national")] = None,
    created_after: Annotated[datetime | None, QueryParameter(description="inclusive, RFC 3339")] = None,
    created_before: Annotated[datetime | None, QueryParameter(description="exclusive, RFC 3339")] = None,
) -> VerificationPage:
    """The account's verifications, newest first: search by number, status and time."""
    caller = await authenticated(request)
    recipient = filters.number(to, caller.default_region)
    if cursor is not None and not ids.is_valid("ver", cursor):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    upper = ids.lower_bound("ver", before) if (before := filters.aware(created_before)) else None
    if cursor is not None:
        upper = min(upper, cursor) if upper else cursor
    where = VerificationFilter(
        recipient=recipient,
        status=status,
        id_from=ids.lower_bound("ver", after) if (after := filters.aware(created_after)) else None,
        id_before=upper,
    )
    return await services(request).verifications.search(caller, where, limit)


handlers = [
    create_verification,
    check_verification,
    cancel_verification,
    resend_verification,
    get_verification,
    list_verifications,
]
