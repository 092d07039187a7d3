"""StandingTech's OTP API v4 (seed ``000``): ``POST /api/v4/sms/send``.

``recipient`` (international, without ``+``), ``sender_id``, ``type`` (``whatsapp``, ``telegram`` or
``plain`` for SMS), ``message`` (the code, 4-10 digits, which the client made and checks itself:
v4 has no verify call), ``lang`` (``en``, ``ar``, ``ku``) and ``fallback`` (``none``, ``sms``,
``whatsapp``, ``telegram``; after WhatsApp only ``sms`` or ``telegram``). It becomes a native
verification (``/v1/verifications``) with the workflow ``[type, fallback]``: the same code goes on
the fallback channel when the first fails or is not delivered in time. Errors carry the provider's
numeric ``code`` (``codes.py``).
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, post

from qasid.api.deps import authenticated, services
from qasid.compat.common import international, json_object, local_text, native, provider_number
from qasid.compat.standingtech.codes import number_code
from qasid.errors import InvalidRequest
from qasid.otp.schemas import CreateVerificationRequest

CHANNELS = {"whatsapp": "whatsapp", "telegram": "telegram", "plain": "sms", "sms": "sms"}
FALLBACKS = ("none", "sms", "whatsapp", "telegram")
AFTER_WHATSAPP = ("none", "sms", "telegram")
LANGUAGES = ("en", "ar", "ku")
_SENDER = re.compile(r"^[A-Za-z0-9 +]+$")
MAX_SENDER = 11


def _refuse(code: int, field: str, detail: str) -> InvalidRequest:
    return InvalidRequest(detail, errors=[{"field": field, "message": detail}], v4_code=code)


def _field(body: dict[str, Any], name: str, missing: int) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _refuse(missing, name, f"{name} is required")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _refuse(1201, name, f"{name} must be a string")
    return str(value).strip()


def _sender(body: dict[str, Any]) -> str:
    sender = _field(body, "sender_id", 1209)
    if len(sender) > MAX_SENDER and not sender.lstrip("+").isdigit():
        raise _refuse(1206, "sender_id", f"a sender ID is at most {MAX_SENDER} characters")
    if not _SENDER.fullmatch(sender):
        raise _refuse(1205, "sender_id", "a sender ID is letters, digits and spaces")
    return sender


def _channels(body: dict[str, Any]) -> list[str]:
    kind = str(body.get("type") or "").strip().lower()
    if not kind:
        raise _refuse(1012, "type", "type is required: whatsapp, telegram or plain")
    if kind not in CHANNELS:
        raise _refuse(1217, "type", f"type {kind!r} is not one of whatsapp, telegram, plain")
    fallback = str(body.get("fallback") or "none").strip().lower()
    if fallback not in FALLBACKS:
        raise _refuse(1013, "fallback", f"fallback {fallback!r} is not one of {', '.join(FALLBACKS)}")
    if kind == "whatsapp" and fallback not in AFTER_WHATSAPP:
        raise _refuse(1218, "fallback", "after WhatsApp the fallback is sms or telegram")
    workflow = [CHANNELS[kind]]
    if fallback != "none" and CHANNELS[fallback] not in workflow:
        workflow.append(CHANNELS[fallback])
    return workflow


def _request(body: dict[str, Any]) -> CreateVerificationRequest:
    if body.get("template_id") is not None:
        raise _refuse(
            1215, "template_id", "Qasid sends codes with the WhatsApp template set up for the account "
            "(qasid connectors add whatsapp); leave template_id out",
        )  # fmt: skip
    recipient = international(_field(body, "recipient", 1207))
    code = _field(body, "message", 1203)
    if code.lower() == "auto":
        raise _refuse(1010, "message", "send your own code in message: Qasid does not make it here")
    if not code.isdigit() or not 4 <= len(code) <= 10:
        raise _refuse(1201, "message", "message is the code: 4 to 10 digits")
    lang = str(body.get("lang") or "en").strip().lower()
    if lang not in LANGUAGES:
        raise _refuse(1201, "lang", f"lang is one of {', '.join(LANGUAGES)}")
    values = {
        "to": recipient,
        "sender": _sender(body),
        "channels": _channels(body),
        "code": code,
        "locale": lang,
    }
    return native(values, CreateVerificationRequest)


@post("/api/v4/sms/send", status_code=200, summary="Send an OTP (StandingTech v4)")
async def send_otp(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """StandingTech's ``POST /api/v4/sms/send``."""
    caller = await authenticated(request)
    runtime = services(request)
    create = _request(await json_object(request, said="Invalid JSON format"))
    try:
        made = await runtime.verifications.create(caller, create)
    except InvalidRequest as exc:
        if any(e.get("field") == "to" for e in exc.extra.get("errors") or ()):
            exc.extra["v4_code"] = number_code(create.to)
        raise
    zone = runtime.settings.dialect_timezone
    return {
        "status": "success",
        "message": f"OTP sent by {made.channel}",
        "data": {
            "id": made.id,
            "recipient": provider_number(made.to),
            "type": "plain" if made.channel == "sms" else made.channel,
            "channels": made.channels,
            "lang": made.locale,
            "status": made.status,
            "expires_at": local_text(made.expires_at, zone),
            "created_at": local_text(made.created_at, zone),
        },
    }


handlers = [send_otp]
