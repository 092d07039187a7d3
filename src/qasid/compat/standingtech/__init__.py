"""StandingTech / BulkSMSIraq: SMS API v3 (seed ``001``), mounted at ``/standingtech`` by default.

Answers are ``{"status": "success", "data": ...}`` or ``{"status": "error", "message": ...}``; the
HTTP status of an error is the native one (401 for a bad key, 422 for a bad request, 402 when the
credit is short...), so clients that look only at ``status`` and those that look at the code both
see it. ``docs/migrating/standingtech.md`` says what else differs.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from qasid.api.problems import handle_unexpected
from qasid.compat.standingtech import sms
from qasid.errors import QasidError

TAG = "dialect: StandingTech / BulkSMSIraq"


def error(status: int, message: str) -> Response[Any]:
    return Response({"status": "error", "message": message}, status_code=status)


def _qasid_error(_: Request[Any, Any, Any], exc: QasidError) -> Response[Any]:
    return error(exc.status, sms.explained(exc))


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return error(404, "Resource not found")
    if isinstance(exc, ValidationException):
        return error(422, f"Invalid parameter value: {exc.detail}")
    if exc.status_code == 413:
        return error(413, "The request body is too large")
    if exc.status_code >= 500:
        handle_unexpected(request, exc)
    return error(exc.status_code, exc.detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    handle_unexpected(request, exc)  # logged with the path
    return error(500, "Internal Server Error")


def router(prefix: str) -> Router:
    return Router(
        path=prefix,
        route_handlers=sms.handlers,
        tags=[TAG],
        security=[{"bearer": []}],
        exception_handlers={
            QasidError: _qasid_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
