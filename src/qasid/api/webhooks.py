"""Callbacks from providers: WhatsApp Cloud API webhooks (statuses, and texts users send to the
business number), Telegram Gateway reports, and the delivery callbacks of upstreams in the
key/brandID dialect (``/webhooks/smsapi/{connector}``: a GET whose ``key`` must be the connector's
``callback_key``).

Each connector has its own address, named after it: ``/webhooks/whatsapp/{connector}`` (give Meta
this URL and the connector's ``verify_token``) and ``/webhooks/telegram/{connector}`` (the Telegram
connector's ``callback_url``). A callback is believed only with a good signature: WhatsApp's
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body keyed by the app secret) or Telegram's
``X-Request-Timestamp`` and ``X-Request-Signature`` (HMAC-SHA256 of ``timestamp + "\\n" + body``
keyed by SHA-256 of the API token), checked in constant time; anything else is a 401 and changes
nothing. Good ones become delivery reports and inbound messages, written through the group commit
before the answer, so a provider that hears 200 can forget the callback.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.params import FromPath
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from qasid.api.deps import services
from qasid.channels import registry
from qasid.channels.base import DeliveryReport, Inbound
from qasid.channels.upstream import otpiq as upstream_otpiq
from qasid.channels.upstream import smsapi as upstream_smsapi
from qasid.domain.states import MessageStatus
from qasid.inbound.service import WriterInboundSink
from qasid.messages.reports import WriterReportSink
from qasid.routing.records import ConnectorRecord
from qasid.routing.repository import RoutingRepository
from qasid.webhooks.service import as_standard_secret

log = structlog.get_logger(__name__)
MAX_CLOCK_SKEW = 300  # seconds a Telegram callback's timestamp may be off
_WHATSAPP = {
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "failed": MessageStatus.UNDELIVERED,
}
_TELEGRAM = {
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "expired": MessageStatus.EXPIRED,
    "revoked": MessageStatus.UNDELIVERED,
}


def _text(status: int, text: str) -> Response[str]:
    return Response(text, status_code=status, media_type="text/plain")


async def _connector(
    request: Request[Any, Any, Any], kind: str, name: str
) -> tuple[ConnectorRecord, Any] | None:
    runtime = services(request)
    db = runtime.db

    def load() -> ConnectorRecord | None:
        with db.read() as conn:
            return RoutingRepository(conn).connector(name)

    record = await to_thread.run_sync(load)
    if record is None or record.kind != kind:
        return None
    return record, registry.config_for(kind, record.config, runtime.vault)


@get("/webhooks/whatsapp/{connector:str}", include_in_schema=False)
async def whatsapp_handshake(request: Request[Any, Any, Any], connector: FromPath[str]) -> Response[str]:
    """Meta's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    found = await _connector(request, "whatsapp", connector)
    params = request.query_params
    if found is None:
        return _text(404, "no such connector")
    token = str(params.get("hub.verify_token", ""))
    if params.get("hub.mode") != "subscribe" or not hmac.compare_digest(token, found[1].verify_token):
        return _text(403, "verify token mismatch")
    return _text(200, str(params.get("hub.challenge", "")))


@post("/webhooks/whatsapp/{connector:str}", include_in_schema=False, status_code=200)
async def whatsapp_status(request: Request[Any, Any, Any], connector: FromPath[str]) -> Response[str]:
    found = await _connector(request, "whatsapp", connector)
    if found is None:
        return _text(404, "no such connector")
    record, config = found
    body = await request.body()
    expected = "sha256=" + hmac.new(config.app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected):
        log.warning("whatsapp webhook with a bad signature refused", connector=record.name)
        return _text(401, "bad signature")
    try:
        values = [
            change.get("value", {})
            for entry in msgspec.json.decode(body).get("entry", [])
            for change in entry.get("changes", [])
        ]
        statuses = [status for value in values for status in value.get("statuses", [])]
        texts = [_whatsapp_text(record.id, value, m) for value in values for m in value.get("messages", [])]
    except (msgspec.DecodeError, AttributeError, TypeError, KeyError, ValueError):
        return _text(400, "not a WhatsApp webhook")
    await WriterInboundSink(services(request).writer).receive([t for t in texts if t is not None])
    now = datetime.now(UTC)
    reports = []
    for status in statuses:
        moved = _WHATSAPP.get(str(status.get("status")))
        if moved is None or not status.get("id"):
            continue  # "sent" says what the submit already said
        errors = status.get("errors") or [{}]
        code = (
            str(errors[0].get("code"))
            if moved == MessageStatus.UNDELIVERED and errors[0].get("code")
            else None
        )
        raw = msgspec.json.encode(status).decode()
        reports.append(DeliveryReport(record.id, str(status["id"]), moved, code, raw, now))
    await WriterReportSink(services(request).writer).deliver(reports)
    return _text(200, "ok")


def _whatsapp_text(connector_id: str, value: dict[str, Any], message: dict[str, Any]) -> Inbound | None:
    """A text a user sent to the business number, as an inbound message from their number to it
    (other kinds of message, such as images or button replies, are not taken)."""
    if message.get("type") != "text":
        log.info("whatsapp message of a kind not taken", kind=message.get("type"))
        return None
    at = datetime.fromtimestamp(int(message["timestamp"]), UTC)
    to = "+" + str(value["metadata"]["display_phone_number"]).lstrip("+")
    return Inbound(connector_id, "+" + str(message["from"]), to, str(message["text"]["body"]), at)


@post("/webhooks/telegram/{connector:str}", include_in_schema=False, status_code=200)
async def telegram_status(request: Request[Any, Any, Any], connector: FromPath[str]) -> Response[str]:
    found = await _connector(request, "telegram", connector)
    if found is None:
        return _text(404, "no such connector")
    record, config = found
    body = await request.body()
    stamp = request.headers.get("x-request-timestamp", "")
    key = hashlib.sha256(config.token.encode()).digest()
    expected = hmac.new(key, stamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= MAX_CLOCK_SKEW
    if not fresh or not hmac.compare_digest(request.headers.get("x-request-signature", ""), expected):
        log.warning("telegram callback with a bad or stale signature refused", connector=record.name)
        return _text(401, "bad signature")
    try:
        status = msgspec.json.decode(body)
        request_id = str(status["request_id"])
        delivery = str((status.get("delivery_status") or {}).get("status", ""))
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return _text(400, "not a Telegram request status")
    moved = _TELEGRAM.get(delivery)
    if moved is not None:
        code = None if moved == MessageStatus.DELIVERED else delivery.upper()
        report = DeliveryReport(
            record.id, request_id, moved, code, body.decode(errors="replace"), datetime.now(UTC)
        )
        await WriterReportSink(services(request).writer).deliver([report])
    return _text(200, "ok")


@get("/webhooks/smsapi/{connector:str}", include_in_schema=False)
async def smsapi_status(request: Request[Any, Any, Any], connector: FromPath[str]) -> Response[str]:
    """An upstream's delivery callback in the key/brandID dialect: ``key`` (ours, checked), ``smsID``,
    ``number``, ``statusID``, ``date``."""
    found = await _connector(request, "smsapi", connector)
    if found is None:
        return _text(404, "no such connector")
    record, config = found
    params = request.query_params
    if not hmac.compare_digest(str(params.get("key", "")).encode(), config.callback_key.encode()):
        log.warning("smsapi callback with a wrong key refused", connector=record.name)
        return _text(403, "Forbidden")
    sms_id, status_id = str(params.get("smsID", "")), str(params.get("statusID", ""))
    if not sms_id or status_id not in {"0", "1", "2", "3", "4"}:
        return _text(400, "smsID and statusID 0-4 are required")
    moved = upstream_smsapi.STATUSES.get(status_id)
    if moved is not None:
        code = None if moved == MessageStatus.DELIVERED else f"STATUS_{status_id}"
        raw = str(request.url.query or "")
        report = DeliveryReport(record.id, sms_id, moved, code, raw, datetime.now(UTC))
        await WriterReportSink(services(request).writer).deliver([report])
    return _text(200, "OK")


@post("/webhooks/otpiq/{connector:str}", include_in_schema=False, status_code=200)
async def otpiq_report(request: Request[Any, Any, Any], connector: FromPath[str]) -> Response[str]:
    """An upstream's delivery report in OTPIQ's dialect: a ``message.status`` event signed with the
    connector's ``callback_secret`` (Standard Webhooks), matched by its ``verification_id``."""
    found = await _connector(request, "otpiq", connector)
    if found is None:
        return _text(404, "no such connector")
    record, config = found
    if not config.callback_secret:
        return _text(404, "this connector takes no reports")
    body = await request.body()
    try:
        event = Webhook(as_standard_secret(config.callback_secret)).verify(body, dict(request.headers))
    except WebhookVerificationError:
        log.warning("otpiq report with a bad signature refused", connector=record.name)
        return _text(401, "bad signature")
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict) or event.get("type") != "message.status" or not data.get("verification_id"):
        return _text(400, "not a message.status event of a verification")
    moved = upstream_otpiq.STATUSES.get(str(data.get("status")))
    if moved is not None:
        said = str(data.get("error_code") or data.get("status"))
        code = None if moved == MessageStatus.DELIVERED else said
        report = DeliveryReport(
            record.id,
            str(data["verification_id"]),
            moved,
            code,
            body.decode(errors="replace"),
            datetime.now(UTC),
        )
        await WriterReportSink(services(request).writer).deliver([report])
    return _text(200, "ok")


handlers = [whatsapp_handshake, whatsapp_status, telegram_status, smsapi_status, otpiq_report]
