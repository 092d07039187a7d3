"""StandingTech SMS API v3: send, view one, view all (seed ``001``).

``POST /api/v3/sms/send`` takes ``recipient`` (one number, or several separated by commas, in
international form without ``+``), ``sender_id``, ``type`` (``plain``; ``unicode`` is taken as the
same, since Qasid chooses the encoding from the text), ``message`` and ``schedule_time``
(``2021-12-20 07:00``, in ``QASID_DIALECT_TIMEZONE``). ``data`` is the SMS report: one object for
one recipient, a list when ``recipient`` named several. ``GET /api/v3/sms/{uid}`` gives one report,
``GET /api/v3/sms`` a page of them (``?page=``, ``?per_page=`` up to 100, newest first) in Laravel's
simple-pagination shape, which the provider's platform is built on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from qasid.api.deps import authenticated, services
from qasid.api.middleware import request_id_of
from qasid.compat.common import (
    international,
    invalid,
    json_object,
    local_text,
    local_time,
    native,
    provider_number,
)
from qasid.domain.states import MessageStatus
from qasid.errors import InvalidRequest
from qasid.messages.reading import MessageQuery
from qasid.messages.schemas import Message, SendMessageRequest, SendMessageResponse

_accepted = msgspec.json.Decoder(SendMessageResponse)
TYPES = ("plain", "unicode")
MAX_PER_PAGE = 100
SCHEDULE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")

# Qasid's states in the words of the provider's reports.
WORDS = {
    MessageStatus.ACCEPTED: "Pending",
    MessageStatus.QUEUED: "Pending",
    MessageStatus.SENDING: "Pending",
    MessageStatus.SCHEDULED: "Scheduled",
    MessageStatus.SENT: "Sent",
    MessageStatus.DELIVERED: "Delivered",
    MessageStatus.PARTIALLY_DELIVERED: "Partially Delivered",
    MessageStatus.UNDELIVERED: "Undelivered",
    MessageStatus.FAILED: "Failed",
    MessageStatus.REJECTED: "Rejected",
    MessageStatus.EXPIRED: "Expired",
    MessageStatus.CANCELED: "Cancelled",
}


def _required(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid(field, f"The {field} field is required.", "required")
    if not isinstance(value, str | int):
        raise invalid(field, f"The {field} must be a string.", "not a string")
    return str(value)


def _request(body: dict[str, Any], zone: str) -> tuple[SendMessageRequest, bool]:
    """The native send the body asks for, and whether it named several recipients."""
    recipients = [n for n in (international(p) for p in _required(body, "recipient").split(",")) if n]
    kind = str(body.get("type") or "plain")
    if kind not in TYPES:
        raise invalid(
            "type", f"Invalid Type {kind!r}: this API sends plain (or unicode) SMS", "plain or unicode"
        )
    values: dict[str, Any] = {
        "to": recipients,
        "text": _required(body, "message"),
        "sender": _required(body, "sender_id"),
    }
    if when := body.get("schedule_time"):
        values["schedule_at"] = local_time(str(when), zone, SCHEDULE_FORMATS, "schedule_time")
    return native(values, SendMessageRequest), len(recipients) > 1


def report(message: Message, zone: str) -> dict[str, Any]:
    """One SMS as the provider reports it."""
    return {
        "uid": message.id,
        "to": provider_number(message.to),
        "from": message.sender,
        "message": message.text,
        "status": WORDS[MessageStatus(message.status)],
        "sms_type": "plain",
        "sms_count": message.segments,
        "cost": message.price,
        "currency": message.currency,
        "error_code": message.error_code,
        "schedule_time": local_text(message.schedule_at, zone, "%Y-%m-%d %H:%M"),
        "created_at": local_text(message.created_at, zone),
        "updated_at": local_text(message.updated_at, zone),
    }


@post("/api/v3/sms/send", status_code=200, summary="Send an SMS (StandingTech v3)")
async def send(request: Request[Any, Any, Any]) -> Response[Any]:
    """StandingTech's ``POST /api/v3/sms/send``."""
    caller = await authenticated(request)
    runtime = services(request)
    zone = runtime.settings.dialect_timezone
    body = await json_object(request, said="Invalid JSON format")
    send, several = _request(body, zone)
    outcome = await runtime.messages.send(caller, send, request_id=request_id_of(request.scope))
    answer = _accepted.decode(outcome.body)
    now = datetime.now(UTC)
    reports = [
        report(
            Message(
                id=m.id, batch_id=answer.batch_id, channel="sms", to=m.to, country=m.country,
                operator=m.operator, sender=send.sender, text=send.text, encoding=m.encoding,
                segments=m.segments, price=m.price, currency=answer.currency, status=m.status,
                error_code=None, client_ref=None, schedule_at=send.schedule_at, expires_at=now,
                created_at=now, updated_at=now,
            ),
            zone,
        )
        for m in answer.messages
    ]  # fmt: skip
    said = f"{len(reports)} message{'s' if len(reports) != 1 else ''} accepted"
    if answer.invalid:
        said += "; not sent to " + "; ".join(f"{provider_number(i.to)} ({i.detail})" for i in answer.invalid)
    found: dict[str, Any] = {"status": "success", "message": said, "data": reports if several else reports[0]}
    if answer.invalid:
        found["invalid"] = [{"recipient": provider_number(i.to), "reason": i.reason} for i in answer.invalid]
    return Response(found, status_code=200)


@get("/api/v3/sms/{uid:str}", summary="View an SMS (StandingTech v3)")
async def view(request: Request[Any, Any, Any], uid: FromPath[str]) -> dict[str, Any]:
    """StandingTech's ``GET /api/v3/sms/{uid}``."""
    caller = await authenticated(request)
    runtime = services(request)
    found = await runtime.messages.get(caller, uid)
    return {"status": "success", "data": report(found, runtime.settings.dialect_timezone)}


@get("/api/v3/sms", summary="View all messages (StandingTech v3)")
async def view_all(
    request: Request[Any, Any, Any],
    page: Annotated[int, QueryParameter(description="1, 2, ...")] = 1,
    per_page: Annotated[int, QueryParameter(description=f"at most {MAX_PER_PAGE}")] = 25,
) -> dict[str, Any]:
    """StandingTech's ``GET /api/v3/sms``: newest first, a numbered page at a time."""
    caller = await authenticated(request)
    runtime = services(request)
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidRequest(f"page is 1 or more and per_page 1 to {MAX_PER_PAGE}")
    query = MessageQuery(limit=per_page, offset=(page - 1) * per_page)
    listed = await runtime.messages.list(caller, query)
    zone = runtime.settings.dialect_timezone
    path = str(request.url.with_replacements(query=""))
    first = (page - 1) * per_page + 1
    return {
        "status": "success",
        "data": {
            "current_page": page,
            "data": [report(m, zone) for m in listed.data],
            "first_page_url": f"{path}?page=1",
            "from": first if listed.data else None,
            "next_page_url": f"{path}?page={page + 1}&per_page={per_page}" if listed.next_cursor else None,
            "path": path,
            "per_page": per_page,
            "prev_page_url": f"{path}?page={page - 1}&per_page={per_page}" if page > 1 else None,
            "to": first + len(listed.data) - 1 if listed.data else None,
        },
    }


handlers = [send, view, view_all]
