"""Seed ``003``'s sending: ``GET`` or ``POST {prefix}/send`` (or the prefix itself) with ``key``,
``brandID``, ``numbers``, ``text`` and optionally ``stopList``, ``otp`` and ``sendTime``, in the
query string, a form or a JSON object.

The seed names the parameters but neither the path nor the answer, so both are Qasid's choice
(docs/migrating/smsapi.md): ``{"status": "success", "messages": [{"smsID", "number"}], "invalid":
[...], "cost", "balance"}``, or ``{"status": "error", "code", "message"}`` with the native HTTP
status. ``brandID`` is the sender ID's name, or its id (``snd_...``). ``otp=true`` sends it with the
highest priority, as the seed says: its messages are dispatched before every other due one (the
urgent lane, as verifications' codes are).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, route

from qasid.api.deps import services
from qasid.api.middleware import request_id_of
from qasid.compat.common import (
    CodedErrors,
    flag,
    international,
    invalid,
    local_time,
    native,
    parameters,
    provider_number,
)
from qasid.errors import MissingApiKey
from qasid.messages.schemas import SendMessageRequest, SendMessageResponse

TAG = "dialect: key/brandID SMS API"
SEND_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
_accepted = msgspec.json.Decoder(SendMessageResponse)


def _text(given: dict[str, Any], field: str) -> str:
    value = given.get(field)
    if value is None or not str(value).strip():
        raise invalid(field, f"{field} is required", "required")
    return str(value)


async def _sender(request: Request[Any, Any, Any], caller: Any, brand: str) -> str:
    if brand.startswith("snd_"):
        return (await services(request).senders.get(caller, brand)).name
    return brand


@route(["/", "/send"], http_method=["GET", "POST"], status_code=200, summary="Send SMS (key/brandID)")
async def send(request: Request[Any, Any, Any]) -> Response[Any]:
    """Send ``text`` to ``numbers`` (comma-separated, international without ``+``) from ``brandID``."""
    given = await parameters(request)
    key = str(given.get("key") or "").strip()
    if not key:
        raise MissingApiKey("key is required: your API key, from the company settings")
    runtime = services(request)
    caller = await runtime.authenticator.authenticate(key)
    numbers = [n for n in (international(p) for p in _text(given, "numbers").split(",")) if n]
    values: dict[str, Any] = {
        "to": numbers,
        "text": _text(given, "text"),
        "sender": await _sender(request, caller, _text(given, "brandID")),
        "stop_list": flag(given.get("stopList"), "stopList", default=True),
    }
    urgent = flag(given.get("otp"), "otp", default=False)  # sent before everything else that is due
    if when := given.get("sendTime"):
        at = local_time(str(when), runtime.settings.dialect_timezone, SEND_TIME_FORMATS, "sendTime")
        if at <= datetime.now(UTC):
            raise invalid("sendTime", "sendTime must be later than the current time", "in the past")
        values["schedule_at"] = at
    send_request = native(values, SendMessageRequest)
    outcome = await runtime.messages.send(
        caller, send_request, request_id=request_id_of(request.scope), urgent=urgent
    )
    answer = _accepted.decode(outcome.body)
    return Response(
        {
            "status": "success",
            "messages": [{"smsID": m.id, "number": provider_number(m.to)} for m in answer.messages],
            "invalid": [
                {"number": provider_number(i.to), "reason": i.reason, "message": i.detail}
                for i in answer.invalid
            ],
            "cost": answer.total_cost,
            "balance": answer.balance,
            "currency": answer.currency,
        },
        status_code=200,
    )


ERRORS = CodedErrors(lambda _status, code, message: {"status": "error", "code": code, "message": message})
http_error = ERRORS.http


def router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=[send],
        tags=[TAG],
        exception_handlers=ERRORS.handlers(),
    )
