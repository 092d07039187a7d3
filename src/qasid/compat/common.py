"""What the dialects share: numbers as the providers write them, their local times, their parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ExceptionHandlersMap

from qasid.api.problems import body_error, handle_unexpected
from qasid.errors import InvalidRequest, MalformedBody, NoValidRecipients, QasidError

_json = msgspec.json.Decoder()
_object = msgspec.json.Decoder(dict[str, Any])
T = TypeVar("T")


async def json_object(
    request: Request[Any, Any, Any], *, said: str = "the body is not valid JSON"
) -> dict[str, Any]:
    """The body, a JSON object; or a 400 beginning with ``said``."""
    try:
        return _object.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"{said}: {exc}") from None


def native(values: dict[str, Any], into: type[T]) -> T:
    """The native request ``values`` make, checked as the native API checks it (a 422 naming the
    field at fault)."""
    try:
        return msgspec.convert(values, into)
    except msgspec.ValidationError as exc:
        raise body_error(exc) from None


def invalid(field: str, detail: str, why: str) -> InvalidRequest:
    """A 422 about one field, the native way (each dialect renders it as its own error)."""
    return InvalidRequest(detail, errors=[{"field": field, "message": why}])


def international(raw: str) -> str:
    """A number as the providers take it (international digits without ``+``, or with ``00``) in
    the form the native API reads: ``9647701234567`` -> ``+9647701234567``. A national number
    (leading 0) and one already with ``+`` are left to the account's region and the parser."""
    number = raw.strip()
    if number.startswith("+") or not number:
        return number
    if number.startswith("00"):
        return "+" + number[2:]
    if number.startswith("0") or not number[:1].isdigit():
        return number
    return "+" + number


def provider_number(e164: str) -> str:
    """A number back as the providers write it: international digits without ``+``."""
    return e164.removeprefix("+")


def local_time(text: str, zone: str, formats: tuple[str, ...], field: str) -> datetime:
    """A provider's local time (``2026-02-01 23:30``) in ``zone``, as an aware UTC datetime."""
    for form in formats:
        try:
            naive = datetime.strptime(text.strip(), form)
        except ValueError:
            continue
        return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    shown = " or ".join(_SHOWN.get(f, f) for f in formats)
    raise invalid(field, f"{field} must be a time like {shown}", "format")


def local_text(at: datetime | None, zone: str, form: str = "%Y-%m-%d %H:%M:%S") -> str | None:
    """An aware time as the providers write it, in ``zone``."""
    return None if at is None else at.astimezone(ZoneInfo(zone)).strftime(form)


_SHOWN = {"%Y-%m-%d %H:%M": "2026-02-01 23:30", "%Y-%m-%d %H:%M:%S": "2026-02-01 23:30:00"}


async def parameters(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Query parameters with the body's over them: a JSON object or a form, whatever the client sent
    (the older providers take either, and the same names in the URL)."""
    found: dict[str, Any] = dict(parse_qsl(request.scope.get("query_string", b"").decode(errors="replace")))
    raw = await request.body()
    if not raw.strip():
        return found
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind == "application/json" or raw.lstrip()[:1] == b"{":
        try:
            body = _json.decode(raw)
        except msgspec.DecodeError as exc:
            raise MalformedBody(f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise MalformedBody("the body must be a JSON object")
        return {**found, **body}
    try:
        return {**found, **dict(parse_qsl(raw.decode(), keep_blank_values=True))}
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None


def flag(value: Any, field: str, *, default: bool) -> bool:
    """``true``/``false`` (also 1/0, yes/no) from a parameter."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise invalid(field, f"{field} must be true or false", "not a boolean")


def explained(exc: QasidError) -> str:
    """An error's message, with each refused recipient's reason when none could be sent to."""
    if isinstance(exc, NoValidRecipients) and (refused := exc.extra.get("invalid")):
        return f"{exc.detail}: " + "; ".join(f"{provider_number(i['to'])}: {i['detail']}" for i in refused)
    return exc.detail


@dataclass(frozen=True, slots=True)
class CodedErrors:
    """Exception handlers for a dialect whose errors are a body built from (HTTP status, the native
    error code, message): Qasid's errors, Litestar's own (no such path, wrong method) and bugs."""

    shape: Callable[[int, str, str], dict[str, Any]]

    def respond(self, status: int, code: str, message: str) -> Response[Any]:
        return Response(self.shape(status, code, message), status_code=status)

    def qasid(self, _: Request[Any, Any, Any], exc: QasidError) -> Response[Any]:
        return self.respond(exc.status, exc.code, explained(exc))

    def http(self, request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if isinstance(exc, NotFoundException):
            return self.respond(404, "not_found", "no such resource")
        if exc.status_code >= 500:
            handle_unexpected(request, exc)
        return self.respond(exc.status_code, "bad_request", exc.detail)

    def unexpected(self, request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        handle_unexpected(request, exc)  # logged with the path
        return self.respond(500, "internal_error", "something went wrong on our side; it has been logged")

    def handlers(self) -> ExceptionHandlersMap:
        """The router's own handlers (Litestar's errors go through ``compat.mounts.http_errors``)."""
        return {QasidError: self.qasid, Exception: self.unexpected}
