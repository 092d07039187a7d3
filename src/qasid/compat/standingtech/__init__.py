"""StandingTech / BulkSMSIraq: SMS API v3 (seed ``001``) and OTP API v4 (seed ``000``), mounted at
``/standingtech`` by default.

Answers are ``{"status": "success", "data": ...}`` or ``{"status": "error", "message": ...}``, and
v4's errors also carry the provider's numeric ``code`` (1000-1907, ``codes.py``). The HTTP status of
an error is the native one (401 for a bad key, 422 for a bad request, 402 when the credit is
short...), so clients that look only at the body and those that look at the status both see it.
``docs/migrating/standingtech.md`` says what else differs.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from qasid.api.problems import handle_unexpected
from qasid.compat.common import explained
from qasid.compat.standingtech import otp, sms
from qasid.compat.standingtech.codes import CODES, code_of
from qasid.errors import QasidError

TAG = "dialect: StandingTech / BulkSMSIraq"


def error(request: Request[Any, Any, Any], status: int, message: str, code: int) -> Response[Any]:
    """The error shape; with v4's ``code`` on v4's paths."""
    body: dict[str, Any] = {"status": "error", "message": message}
    if "/api/v4/" in request.url.path:
        body = {"status": "error", "code": code, "message": f"{CODES[code]}: {message}"}
    return Response(body, status_code=status)


def _qasid_error(request: Request[Any, Any, Any], exc: QasidError) -> Response[Any]:
    return error(request, exc.status, explained(exc), code_of(exc))


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (no such path, wrong method, a bad query parameter) under the prefix."""
    if isinstance(exc, NotFoundException):
        return error(request, 404, "Resource not found", 1600)
    if isinstance(exc, ValidationException):
        return error(request, 422, f"Invalid parameter value: {exc.detail}", 1201)
    if exc.status_code == 405:
        return error(request, 405, exc.detail, 1007)
    if exc.status_code == 413:
        return error(request, 413, "The request body is too large", 1000)
    if exc.status_code >= 500:
        handle_unexpected(request, exc)
    return error(request, exc.status_code, exc.detail, 1000)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    handle_unexpected(request, exc)  # logged with the path
    return error(request, 500, "Internal Server Error", 1009)


def router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=[*sms.handlers, *otp.handlers],
        tags=[TAG],
        security=[{"bearer": []}],
        exception_handlers={
            QasidError: _qasid_error,
            Exception: _unexpected,
        },
    )
