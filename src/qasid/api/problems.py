"""RFC 9457 problem documents for every error the API gives.

Every error body has ``type`` (``/problems/<code>``, served by the gateway), ``title``, ``status``,
``detail``, ``code`` (stable, machine-readable) and ``instance`` (the request path), plus what the
error carries: ``errors`` (one entry per field at fault), ``required``/``available`` for
insufficient funds, ``invalid`` for refused recipients, and so on.

Run ``python -m qasid.api.problems`` to print docs/errors.md.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from qasid.errors import (
    AuthenticationError,
    InvalidRequest,
    MalformedBody,
    MissingApiKey,
    PayloadTooLarge,
    QasidError,
    Unavailable,
    all_errors,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)

TOO_LARGE = "the request body is larger than this gateway accepts"


class FieldError(msgspec.Struct, kw_only=True):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem(
    request: Request[Any, Any, Any] | None,
    status: int,
    code: str,
    *,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail}
    body["code"] = code
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in (extra or {}).items() if k not in body})  # the RFC's members win
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def render_error(request: Request[Any, Any, Any] | None, exc: QasidError) -> Response[Any]:
    headers = {"WWW-Authenticate": 'Bearer realm="qasid"'} if exc.status == 401 else None
    if (retry_after := exc.extra.get("retry_after")) is not None:
        headers = {"Retry-After": str(retry_after)}
    return problem(
        request, exc.status, exc.code, title=exc.title, detail=exc.detail, extra=exc.extra, headers=headers
    )


def handle_qasid_error(request: Request[Any, Any, Any], exc: QasidError) -> Response[Any]:
    return render_error(request, exc)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (no route, wrong method, bad query parameter, body too large)."""
    if isinstance(exc, ValidationException):
        return render_error(request, _from_litestar_validation(exc))
    if exc.status_code == 413:
        return render_error(request, PayloadTooLarge(TOO_LARGE))
    if isinstance(exc, NotFoundException):
        return problem(request, 404, "not_found", title="Not found", detail="no such resource")
    code = re.sub(r"[^a-z0-9]+", "_", exc.detail.lower()).strip("_") or "http_error"
    return problem(request, exc.status_code, code, title=exc.detail, detail=exc.detail, headers=exc.headers)


def handle_database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A read that could not reach the database (writes report ``Unavailable`` themselves)."""
    log.warning("database unreachable", path=request.url.path, error=repr(exc))
    return render_error(request, Unavailable("the database cannot be reached right now; try again shortly"))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path, error=repr(exc))
    detail = "something went wrong on our side; it has been logged"
    return problem(
        request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", title="Internal error", detail=detail
    )


def _from_litestar_validation(exc: ValidationException) -> InvalidRequest:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        errors.append({"field": str(item.get("key", "")), "message": str(item.get("message", exc.detail))})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.detail
    return InvalidRequest(detail, errors=errors)


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`")


def body_error(exc: msgspec.MsgspecError) -> QasidError:
    """A msgspec decoding error as the problem a caller can act on, naming the field at fault."""
    if not isinstance(exc, msgspec.ValidationError):
        return MalformedBody(f"the body is not valid JSON: {exc}")
    message = str(exc)
    path = ""
    if found := _AT.search(message):
        path = found["path"].lstrip(".")
        message = message[: found.start()]
    if named := _NAMED.search(message):
        path = f"{path}.{named['name']}" if path else named["name"]
        message = "required" if named["what"] == "missing required" else "unknown field"
    field = path or "(body)"
    return InvalidRequest(f"{field}: {message}", errors=[{"field": field, "message": message}])


def decode_body(raw: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    if not raw.strip():
        raise MalformedBody("the body is empty; send a JSON object")
    try:
        return decoder.decode(raw)
    except msgspec.MsgspecError as exc:
        raise body_error(exc) from None
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None


def bearer_token(header: str | None) -> str:
    """The key from ``Authorization: Bearer <key>``, or MissingApiKey."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingApiKey("send your API key as 'Authorization: Bearer <key>'")
    return token.strip()


RECIPIENT_REASONS = {
    "unparsable": "not a phone number at all (letters, too long, empty)",
    "invalid_number": "a number, but not a valid one for its country (impossible length or range)",
    "missing_country_code": "national format, and the account has no default region",
    "landline": "a fixed line: it cannot receive SMS",
    "premium_rate": "a premium-rate number",
    "toll_free": "a toll-free number",
    "shared_cost": "a shared-cost number",
    "voip": "a VoIP number",
    "not_mobile": "any other number that is not a mobile (pager, UAN, voicemail, personal number)",
    "no_price": "no price is set for the destination's country, operator and channel",
}


def errors_markdown() -> str:
    lines = [
        "# Errors",
        "",
        "Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `code`.",
        "Generated from `src/qasid/errors.py` by `python -m qasid.api.problems`; a test keeps it current.",
        "",
        "| status | code | meaning |",
        "| --- | --- | --- |",
    ]
    for cls in sorted(all_errors(), key=lambda c: (c.status, c.code)):
        if cls in (QasidError, AuthenticationError):  # bases, never raised themselves
            continue
        meaning = " ".join((cls.__doc__ or cls.title).replace("``", "`").split())
        lines.append(f"| {cls.status} | `{cls.code}` | {meaning} |")
    lines += [
        "| 405 | `method_not_allowed` | The path exists but not with this HTTP method. |",
        "| 500 | `internal_error` | A bug on our side; it is logged. |",
        "",
        "## Refused recipients",
        "",
        "A send answers 202 when at least one recipient is accepted; each refused one is listed in",
        "`invalid` with one of these reasons (and when none is accepted, the 422 `no_valid_recipients`",
        "problem carries the same list):",
        "",
        "| reason | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| `{reason}` | {meaning} |" for reason, meaning in RECIPIENT_REASONS.items()]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(errors_markdown(), end="")
