"""OTPIQ's ``POST /api/sms`` (seed ``002``).

``phoneNumber`` (international, without ``+``), ``smsType`` (``verification``, the one documented
type), ``verificationCode`` (the code the client made and checks), ``senderId`` (at most 11; by
default the account's first approved sender ID) and ``provider``, which becomes the verification's
workflow: ``auto`` the gateway's default (``QASID_OTP_DEFAULT_CHANNELS``), ``whatsapp-sms``,
``telegram-sms``, ``whatsapp-telegram-sms``, ``sms``, ``whatsapp``, ``telegram``. The answer carries
``smsId`` (the verification's id), ``cost`` (the first send's price), ``remainingCredit``,
``canCover`` and ``paymentType``, as documented. The seed documents no error body; Qasid's is
``{"message", "code"}`` with the native HTTP status and code (docs/migrating/otpiq.md).
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, Router, post

from qasid.accounts.schemas import AccountInfo
from qasid.accounts.service import require_account
from qasid.api.deps import authenticated, services
from qasid.compat.common import CodedErrors, international, invalid, json_object, native
from qasid.domain.money import to_major
from qasid.otp.schemas import CreateVerificationRequest

TAG = "dialect: OTPIQ"
WORKFLOWS: dict[str, list[str] | None] = {
    "auto": None,
    "whatsapp-sms": ["whatsapp", "sms"],
    "telegram-sms": ["telegram", "sms"],
    "whatsapp-telegram-sms": ["whatsapp", "telegram", "sms"],
    "sms": ["sms"],
    "whatsapp": ["whatsapp"],
    "telegram": ["telegram"],
}
REPORT_TYPES = ("all", "final")  # every state change of each message, or its final one
CUSTOM_WHATSAPP = ("whatsappAccountId", "whatsappPhoneId", "templateName")
MAX_SENDER = 11


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid(field, f"{field} is required", "required")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise invalid(field, f"{field} must be a string", "not a string")
    return str(value).strip()


async def _sender(request: Request[Any, Any, Any], caller: Any, body: dict[str, Any]) -> str:
    given = body.get("senderId")
    if given:
        sender = str(given)
        if len(sender) > MAX_SENDER:
            raise invalid("senderId", f"senderId is at most {MAX_SENDER} characters", "too long")
        return sender
    listed = await services(request).senders.listed(caller)
    approved = sorted(s.name for s in listed.data if s.status == "approved")
    if not approved:
        raise invalid(
            "senderId", "the account has no approved sender ID: ask for one at /v1/sender-ids", "none"
        )
    return approved[0]


async def _request(
    request: Request[Any, Any, Any], caller: Any, body: dict[str, Any]
) -> CreateVerificationRequest:
    kind = _text(body, "smsType")
    if kind != "verification":
        raise invalid(
            "smsType",
            f"smsType {kind!r}: this API sends verification codes (smsType: verification)",
            "verification",
        )
    if given := [name for name in CUSTOM_WHATSAPP if body.get(name)]:
        raise invalid(
            given[0],
            f"{', '.join(given)}: custom WhatsApp senders are not taken here; codes go by the WhatsApp "
            "number and template set up for the account (qasid connectors add whatsapp)",
            "not supported",
        )  # fmt: skip
    provider = str(body.get("provider") or "auto")
    if provider not in WORKFLOWS:
        raise invalid("provider", f"provider is one of {', '.join(WORKFLOWS)}", "unknown provider")
    code = _text(body, "verificationCode")
    if not code.isdigit() or not 4 <= len(code) <= 10:
        raise invalid("verificationCode", "Qasid sends codes of 4 to 10 digits", "4-10 digits")
    values: dict[str, Any] = {
        "to": international(_text(body, "phoneNumber")),
        "sender": await _sender(request, caller, body),
        "code": code,
    }
    if (workflow := WORKFLOWS[provider]) is not None:
        values["channels"] = workflow
    if (report := body.get("deliveryReport")) is not None:
        values["message_callback"] = _delivery_report(report)
    return native(values, CreateVerificationRequest)


def _delivery_report(report: Any) -> dict[str, Any]:
    """``deliveryReport`` as the verification's receiver of its messages' status events."""
    if not isinstance(report, dict):
        raise invalid("deliveryReport", "deliveryReport is an object with webhookUrl", "not an object")
    kind = str(report.get("deliveryReportType") or "all")
    if kind not in REPORT_TYPES:
        field = "deliveryReport.deliveryReportType"
        raise invalid(field, f"deliveryReportType is one of {', '.join(REPORT_TYPES)}", "unknown")
    made: dict[str, Any] = {"url": _text(report, "webhookUrl"), "statuses": kind}
    if secret := report.get("webhookSecret"):
        made["secret"] = str(secret)
    return made


@post("/api/sms", status_code=200, summary="Send SMS (OTPIQ)")
async def send_sms(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """OTPIQ's ``POST /api/sms``."""
    caller = await authenticated(request)
    runtime = services(request)
    body = await json_object(request)
    made = await runtime.verifications.create(caller, await _request(request, caller, body))
    detail = await runtime.verifications.get(caller, made.id)
    first = detail.send_history[0].message_id
    cost = (await runtime.messages.get(caller, first)).price if first else 0

    def account() -> AccountInfo:
        with runtime.db.read() as conn:
            return AccountInfo.of(require_account(conn, caller.account_id))

    info = await to_thread.run_sync(account)
    return {
        "message": "SMS task created successfully",
        "smsId": made.id,
        "remainingCredit": to_major(max(info.available, 0), info.currency),
        "cost": to_major(cost, info.currency),
        "canCover": info.available >= 0,
        "paymentType": info.payment_type,
    }


ERRORS = CodedErrors(lambda _status, code, message: {"message": message, "code": code})
http_error = ERRORS.http


def router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=[send_sms],
        tags=[TAG],
        security=[{"bearer": []}],
        exception_handlers=ERRORS.handlers(),
    )
