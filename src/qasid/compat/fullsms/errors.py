"""FullSMS's error bodies (seed ``004``), by case.

The document shows several shapes: ``{"status_code", "message"}`` (403, 500), ``{"status_code",
"status": "declined", "message"}`` (404, and 422 with ``"reason": "balance_low"``), Laravel's
validation body ``{"message": "422 Unprocessable Content", "errors": {field: [message]},
"status_code": 422}`` (with ``"code": 422`` on the OTP calls), and ``{"message", "code",
"status_code"}`` for 429. The front door raises ``FullSmsError`` with the exact body where it knows
the case; Qasid's own errors that reach here are put in the nearest shape.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ExceptionHandlersMap

from qasid.api.problems import handle_unexpected
from qasid.domain.money import format_minor
from qasid.errors import (
    AccountSuspended,
    ActiveVerificationExists,
    ActiveVerificationsLimit,
    AuthenticationError,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    QasidError,
    RateLimited,
    SenderNotApproved,
    Unavailable,
    UnknownSender,
)

UNAUTHENTICATED = "Unauthenticated - Missing/Invalid API key"
SENDER_NOT_APPROVED = "Sender ID is not approved"
NUMBER_INVALID = "Number invalid, inactive or unknown"
UNPROCESSABLE = "422 Unprocessable Content"


class FullSmsError(QasidError):
    """An error whose FullSMS body the front door knows."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("message", "")))
        self.http_status = status
        self.body = body


def unprocessable(field: str, message: str, *, otp: bool = False) -> FullSmsError:
    """Laravel's validation error for one field (the OTP calls add ``code``)."""
    body: dict[str, Any] = {"message": UNPROCESSABLE, "errors": {field: [message]}}
    if otp:
        body["code"] = 422
    body["status_code"] = 422
    return FullSmsError(422, body)


def declined(http: int, message: str, *, status: bool = True, otp: bool = False) -> FullSmsError:
    """``{"status_code", "status": "declined", "message"}``, or without ``status`` as the document
    shows some (OTP not active; 429s)."""
    body: dict[str, Any] = {"status_code": http, "status": "declined", "message": message}
    if not status:
        body = {"message": message, "status_code": http}
    if otp:
        body = {"message": message, "code": http, "status_code": http}
    return FullSmsError(http, body)


def forbidden(message: str) -> FullSmsError:
    return FullSmsError(403, {"status_code": 403, "message": message})


def sender_refused(sender: str) -> FullSmsError:
    """``from`` names no sender the account may use: a number (E.164) or a sender ID."""
    return forbidden(NUMBER_INVALID if sender.startswith("+") else SENDER_NOT_APPROVED)


def body_of(exc: QasidError) -> tuple[int, dict[str, Any]]:  # noqa: PLR0911 - a return per case
    """The status and FullSMS body for an error that reached the dialect."""
    if isinstance(exc, FullSmsError):
        return exc.http_status, exc.body
    if isinstance(exc, AuthenticationError):
        return 403, {"status_code": 403, "message": UNAUTHENTICATED}
    if isinstance(exc, AccountSuspended):
        return 403, {"status_code": 403, "message": "Access Denied"}
    if isinstance(exc, SenderNotApproved | UnknownSender):
        return 403, {"status_code": 403, "message": SENDER_NOT_APPROVED}
    if isinstance(exc, InsufficientFunds):
        required = format_minor(int(exc.extra.get("required", 0)), str(exc.extra.get("currency", "IQD")))
        return 422, {
            "status_code": 422, "status": "declined", "reason": "balance_low",
            "message": f"Balance must be over {required} to create or schedule new campaigns or messages",
        }  # fmt: skip
    if isinstance(exc, ActiveVerificationExists):
        message = ("Two active requests to the same number are not allowed. You may try again when 30 "
                   "seconds has passed from the first OTP verification was created")  # fmt: skip
        return 429, {"message": message, "code": 429, "status_code": 429}
    if isinstance(exc, ActiveVerificationsLimit):
        return 429, {"message": f"You can create up-to concurrent active OTP_IDs: {exc.detail}", "code": 429,
                     "status_code": 429}  # fmt: skip
    if isinstance(exc, RateLimited):
        return 429, {"message": "Maximum verification", "code": 429, "status_code": 429}
    if isinstance(exc, NotFound):
        return 404, {"status_code": 404, "status": "declined", "message": exc.detail}
    if isinstance(exc, InvalidRequest):
        errors = {
            str(e.get("field") or "(body)"): [str(e.get("message"))] for e in exc.extra.get("errors") or ()
        }
        return 422, {
            "message": UNPROCESSABLE,
            "errors": errors or {"(body)": [exc.detail]},
            "status_code": 422,
        }
    if isinstance(exc, Unavailable):
        return 503, {"status_code": 503, "message": exc.detail}
    return exc.status, {"status_code": exc.status, "message": exc.detail}


class _Errors:
    def qasid(self, _: Request[Any, Any, Any], exc: QasidError) -> Response[Any]:
        status, body = body_of(exc)
        return Response(body, status_code=status)

    def http(self, request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        """Litestar's own errors (no such path, wrong method) under the prefix."""
        if isinstance(exc, NotFoundException):
            return Response({"status_code": 404, "message": "Not Found"}, status_code=404)
        if exc.status_code >= 500:
            return self.unexpected(request, exc)
        return Response({"status_code": exc.status_code, "message": exc.detail}, status_code=exc.status_code)

    def unexpected(self, request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        handle_unexpected(request, exc)  # logged with the path
        return Response({"status_code": 500, "message": "Internal Error"}, status_code=500)

    def handlers(self) -> ExceptionHandlersMap:
        return {QasidError: self.qasid, Exception: self.unexpected}


ERRORS = _Errors()
