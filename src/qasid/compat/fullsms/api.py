"""FullSMS's API (seed ``004``): ``account/*``, ``messages/send/to_lists`` and ``to_numbers``,
``otp/create``, ``verify``, ``cancel`` and ``search``.

Ids are Qasid's (``lst_...``, ``tpl_...``, ``ver_...``); FullSMS shows integers and UUIDs, and a
client that only passes them back does not notice. ``send_at`` is ``YYYY-MM-DD HH:MM:SS`` in
``QASID_DIALECT_TIMEZONE``; ``balance`` is in whole units of the account's currency. Errors are the
bodies the document shows, by case (``errors.py``). docs/migrating/fullsms.md says what differs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from anyio import to_thread
from litestar import Request, Router, get, post
from litestar.params import QueryParameter

from qasid.accounts.schemas import AccountInfo
from qasid.accounts.service import require_account
from qasid.api.deps import authenticated, services
from qasid.api.middleware import request_id_of
from qasid.campaigns.schemas import CreateCampaignRequest
from qasid.compat.common import international, json_object, local_text, local_time, native, provider_number
from qasid.compat.fullsms.errors import ERRORS, declined, sender_refused, unprocessable
from qasid.domain.money import to_major
from qasid.domain.phone import region_of
from qasid.domain.templates import render
from qasid.errors import (
    NotFound,
    NoValidRecipients,
    QasidError,
    SenderNotApproved,
    UnknownSender,
)
from qasid.messages.schemas import SendMessageRequest, SendMessageResponse
from qasid.otp.schemas import CreateVerificationRequest
from qasid.templates.service import values_for

SEND_AT = ("%Y-%m-%d %H:%M:%S",)
MAX_BRAND_GSM, MAX_BRAND_UCS2 = 50, 12
_accepted = msgspec.json.Decoder(SendMessageResponse)
# Native verification states in FullSMS's words.
OTP_STATUS = {
    "pending": "in_progress",
    "approved": "approved",
    "max_attempts_reached": "failed",
    "canceled": "canceled",
    "expired": "expired",
}


def _sender(given: Any) -> str:
    """``from``: an E.164 number (digits) or an approved sender ID."""
    if not isinstance(given, str) or not given.strip():
        raise unprocessable("from", "The from field is required.")
    value = given.strip()
    return international(value) if value.lstrip("+").isdigit() else value


async def _content(request: Request[Any, Any, Any], caller: Any, body: dict[str, Any]) -> dict[str, str]:
    """``message`` as the native ``text``, or ``template_id`` (checked) as the native one."""
    if (template_id := body.get("template_id")) is not None:
        try:
            template = await services(request).templates.get(caller, str(template_id))
        except NotFound:
            raise declined(404, "Template not found or not valid") from None
        return {"template_id": template.id, "body": template.body}
    return {"text": _message(body)}


async def _text(request: Request[Any, Any, Any], caller: Any, body: dict[str, Any]) -> str:
    """The text to send to numbers: ``message``, or ``template_id``'s filled with its defaults
    (there is no contact to fill it from)."""
    content = await _content(request, caller, body)
    if "body" in content:
        return render(content["body"], values_for(None, None, "", None)).text
    return content["text"]


def _message(body: dict[str, Any]) -> str:
    message = body.get("message")
    if message is None:
        raise unprocessable("message", "The message field is required when template id is not present.")
    if not isinstance(message, str) or not message:
        raise unprocessable("message", "The message must be a string.")
    return message


def _send_at(body: dict[str, Any], zone: str) -> datetime | None:
    given = body.get("send_at")
    if given is None:
        return None
    try:
        return local_time(str(given), zone, SEND_AT, "send_at")
    except QasidError:
        raise unprocessable("send_at", "The send at does not match the format Y-m-d H:i:s.") from None


def _fields(exc: QasidError) -> set[str]:
    return {str(e.get("field")) for e in exc.extra.get("errors") or ()}


def _refusal(exc: QasidError, sender: str) -> QasidError:
    """The error as FullSMS says it when it is about ``from``; else the error itself."""
    if isinstance(exc, SenderNotApproved | UnknownSender) or "sender" in _fields(exc):
        return sender_refused(sender)
    return exc


async def _account(request: Request[Any, Any, Any], caller: Any) -> AccountInfo:
    db = services(request).db

    def read() -> AccountInfo:
        with db.read() as conn:
            return AccountInfo.of(require_account(conn, caller.account_id))

    return await to_thread.run_sync(read)


# -- account -----------------------------------------------------------------------------------


@get("/account/balance", summary="Get my balance (FullSMS)")
async def balance(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = await authenticated(request)
    info = await _account(request, caller)
    return {"balance": to_major(info.balance, info.currency)}


@get("/account/numbers", summary="Get my numbers (FullSMS)")
async def numbers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = await authenticated(request)
    found = (await services(request).senders.numbers(caller)).data
    shown = [{"number": provider_number(n.number), "country": region_of(n.number)} for n in found]
    return {"total_numbers": len(shown), "numbers": shown}


@get("/account/lists", summary="Get my contact lists (FullSMS)")
async def lists(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = await authenticated(request)
    found = (await services(request).contacts.lists(caller)).data
    shown = [
        {
            "list_id": c.id,
            "name": c.name,
            "subscribe_word": c.subscribe_word,
            "subscribed_contacts": c.contacts,
        }
        for c in found
    ]
    return {"total_lists": len(shown), "lists": shown}


@get("/account/senderids", summary="Get my sender IDs (FullSMS)")
async def sender_ids(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = await authenticated(request)
    found = (await services(request).senders.listed(caller)).data
    approved = [s.name for s in found if s.status == "approved" and s.kind == "alphanumeric"]
    return {"total_senderids": len(approved), "senderids": approved}


@get("/account/templates", summary="Get my templates (FullSMS)")
async def templates(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = await authenticated(request)
    found = (await services(request).templates.listed(caller)).data
    shown = [{"template_id": t.id, "name": t.name, "content": t.body} for t in found]
    return {"total_templates": len(shown), "templates": shown}


# -- sending -----------------------------------------------------------------------------------


@post("/messages/send/to_lists", status_code=200, summary="Send SMS to contact lists (FullSMS)")
async def to_lists(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A campaign to the lists' contacts, now or at ``send_at``."""
    caller = await authenticated(request)
    runtime = services(request)
    body = await json_object(request)
    wanted = body.get("to_list_ids")
    if not isinstance(wanted, list) or not wanted:
        raise unprocessable("to_list_ids", "The to list ids field is required.")
    known = {c.id for c in (await runtime.contacts.lists(caller)).data}
    for index, list_id in enumerate(wanted):
        if str(list_id) not in known:
            raise unprocessable(f"to_list_ids.{index}", "List with this id could not be found")
    sender, content = _sender(body.get("from")), await _content(request, caller, body)
    content.pop("body", None)  # a template is filled per contact by the campaign
    start = _send_at(body, runtime.settings.dialect_timezone)
    values: dict[str, Any] = {"name": f"FullSMS {datetime.now(UTC):%Y-%m-%d %H:%M:%S}", "sender": sender,
                              "lists": [str(i) for i in wanted], **content}  # fmt: skip
    if start is not None:
        values["start_at"] = start
    campaign = native(values, CreateCampaignRequest)
    try:
        made = await runtime.campaigns.create(caller, campaign)
    except QasidError as exc:
        raise _refusal(exc, sender) from None
    return {"status": "approved", "campaign_id": made.id}


@post("/messages/send/to_numbers", status_code=200, summary="Send SMS to numbers (FullSMS)")
async def to_numbers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """One text to up to 500 numbers (a native send: ``campaign_id`` is its batch)."""
    caller = await authenticated(request)
    runtime = services(request)
    body = await json_object(request)
    wanted = body.get("to_numbers")
    if not isinstance(wanted, list) or not wanted:
        raise unprocessable("to_numbers", "The to numbers field is required.")
    limit = runtime.settings.max_recipients
    if len(wanted) > limit:
        raise unprocessable("to_numbers", f"The to numbers must not have more than {limit} items.")
    for index, number in enumerate(wanted):
        if not isinstance(number, str | int) or isinstance(number, bool):
            raise unprocessable(
                f"to_numbers.{index}", "Given number is invalid or could not receive messages"
            )
    sender, text = _sender(body.get("from")), await _text(request, caller, body)
    values: dict[str, Any] = {"to": [international(str(n)) for n in wanted], "text": text, "sender": sender}
    if (start := _send_at(body, runtime.settings.dialect_timezone)) is not None:
        values["schedule_at"] = start
    send = native(values, SendMessageRequest)
    try:
        outcome = await runtime.messages.send(caller, send, request_id=request_id_of(request.scope))
    except NoValidRecipients:
        raise unprocessable("to_numbers.0", "Given number is invalid or could not receive messages") from None
    except QasidError as exc:
        raise _refusal(exc, sender) from None
    answer = _accepted.decode(outcome.body)
    refused = [provider_number(i.to) if i.to.startswith("+") else i.to for i in answer.invalid]
    return {
        "status": "approved",
        "campaign_id": answer.batch_id,
        "total_sent": len(answer.messages),
        "invalid": {"count": len(refused), "numbers": refused},
    }


# -- one-time codes ------------------------------------------------------------------------------


def _otp_id(body: dict[str, Any]) -> str:
    value = body.get("otp_id")
    if not isinstance(value, str) or not value:
        raise unprocessable("otp_id", "The otp id field is required.", otp=True)
    return value


@post("/otp/create", status_code=200, summary="Create OTP (FullSMS)")
async def otp_create(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A code Qasid makes, sent by SMS to ``to_number`` from ``from``, with ``brand`` in the text."""
    caller = await authenticated(request)
    body = await json_object(request)
    to = body.get("to_number")
    if not isinstance(to, str | int) or isinstance(to, bool) or not str(to).strip():
        raise unprocessable("to_number", "The to number field is required.", otp=True)
    values: dict[str, Any] = {
        "to": international(str(to)),
        "sender": _sender(body.get("from")),
        "channels": ["sms"],
    }
    if brand := body.get("brand"):
        values["brand"] = _brand(brand)
    create = native(values, CreateVerificationRequest)
    try:
        made = await services(request).verifications.create(caller, create)
    except QasidError as exc:
        if _fields(exc) & {"to"}:
            raise unprocessable("to_number", "This to number is invalid.", otp=True) from None
        raise _refusal(exc, create.sender) from None
    return {"status": "approved", "otp_id": made.id, "otp_status": OTP_STATUS[made.status]}


def _brand(given: Any) -> str:
    brand = str(given)
    longest = MAX_BRAND_GSM if brand.isascii() else MAX_BRAND_UCS2
    if len(brand) > longest:
        raise unprocessable("brand", f"This brand is invalid: at most {longest} characters.", otp=True)
    return brand


@post("/otp/verify", status_code=200, summary="Verify OTP (FullSMS)")
async def otp_verify(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Check ``code``: 3 wrong codes and the OTP is failed."""
    caller = await authenticated(request)
    runtime = services(request)
    body = await json_object(request)
    otp_id = _otp_id(body)
    given = body.get("code")
    if not isinstance(given, str | int) or isinstance(given, bool) or not str(given).strip():
        raise unprocessable("code", "The code field is required.", otp=True)
    shown = await _verification(request, caller, otp_id)
    if shown.status != "pending":
        raise declined(422, "OTP is not active", status=False)
    code = str(given).strip()
    if isinstance(given, int):  # a JSON number loses the code's leading zeros
        code = code.zfill(shown.code_length)
    result = await runtime.verifications.check(caller, otp_id, code)
    if result.status == "approved":
        return {"status": "approved"}
    if result.status == "max_attempts_reached":
        raise declined(429, "Wrong code too many times", status=False, otp=True)
    if result.status == "invalid":
        raise unprocessable("code", "This code is invalid.", otp=True)
    raise declined(422, "OTP is not active", status=False)


async def _verification(request: Request[Any, Any, Any], caller: Any, otp_id: str) -> Any:
    try:
        return await services(request).verifications.get(caller, otp_id)
    except NotFound:
        raise declined(404, "OTP_ID does not exist") from None


@post("/otp/cancel", status_code=200, summary="Cancel OTP (FullSMS)")
async def otp_cancel(request: Request[Any, Any, Any]) -> list[str]:
    caller = await authenticated(request)
    body = await json_object(request)
    otp_id = _otp_id(body)
    shown = await _verification(request, caller, otp_id)
    if shown.status != "pending":
        raise declined(422, "OTP is not active", status=False)
    await services(request).verifications.cancel(caller, otp_id)
    return ["ok"]


@get("/otp/search", summary="Search OTP (FullSMS)")
async def otp_search(
    request: Request[Any, Any, Any], otp_id: Annotated[str, QueryParameter(description="the otp_id")]
) -> dict[str, Any]:
    """One OTP with its checks. The codes tried are not kept (Qasid stores no code), so a check's
    ``code`` is null."""
    caller = await authenticated(request)
    runtime = services(request)
    found = await _verification(request, caller, otp_id)
    zone = runtime.settings.dialect_timezone
    checks = [
        {
            "date": local_text(c.at, zone),
            "code": None,
            "status": "valid" if c.result == "approved" else "invalid",
        }
        for c in found.checks
    ]
    return {
        "uuid": found.id,
        "status": OTP_STATUS.get(found.status, found.status),
        "destination": provider_number(found.to),
        "sender_value": await _sender_of(request, caller, found),
        "brand": found.brand,
        "created at": local_text(found.created_at, zone),
        "last_check_at": checks[-1]["date"] if checks else None,
        "checks": checks,
    }


async def _sender_of(request: Request[Any, Any, Any], caller: Any, found: Any) -> str | None:
    first = found.send_history[0].message_id if found.send_history else None
    return (await services(request).messages.get(caller, first)).sender if first else None


HANDLERS = [balance, numbers, lists, sender_ids, templates, to_lists, to_numbers, otp_create, otp_verify,
            otp_cancel, otp_search]  # fmt: skip


def router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=HANDLERS,
        tags=["dialect: FullSMS"],
        security=[{"bearer": []}],
        exception_handlers=ERRORS.handlers(),
    )


http_error = ERRORS.http
