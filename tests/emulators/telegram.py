"""An emulator of the documented Telegram Gateway API (verification codes sent through Telegram's
"Verification Codes" account), served over plain HTTP on 127.0.0.1 for tests, since Telegram cannot be
reached from here. It follows the documentation, not guesses; where the documentation is silent it
says so below, and the choice made is a setting a test can change.

    async with TelegramGateway(token="tgtoken") as tg:
        # a client calls f"{tg.base_url}sendVerificationMessage" with "Authorization: Bearer tgtoken"
        await tg.wait_for(lambda: any(d.status == "delivered" for d in tg.deliveries))
        tg.sent[-1].code, tg.requests[-1].params, tg.balance

Sources followed
----------------
- "Telegram Gateway API", https://core.telegram.org/gateway/api (the version with the "February 26,
  2025" recent changes: ttl 30-3600, ``is_refunded``, delivery statuses ``delivered`` and ``expired``),
  sections *Making requests*, *Authorization*, *sendVerificationMessage*, *checkSendAbility*,
  *checkVerificationStatus*, *revokeVerificationMessage*, *RequestStatus*, *DeliveryStatus*,
  *VerificationStatus*, *Report delivery*, *Checking report integrity*. Read from the page's mirror in
  github.com/MarshalX/telegram-crawler (data/web/core.telegram.org/gateway/api.html).
- "Authorization via Telegram Gateway: Quick-start Guide",
  https://core.telegram.org/gateway/verification-tutorial (charging of checkSendAbility, "you will
  not be charged" on errors, phone number "must be the one tied to request_id", revoked codes are
  not refunded, base URL written ``https://gatewayapi.telegram.org/``).
- Error strings: the documentation names only ``ACCESS_TOKEN_INVALID``. The others are those a real
  client maps, github.com/deus-developer/tgateway ``tgateway/exceptions.py`` (ACCESS_TOKEN_REQUIRED,
  BALANCE_NOT_ENOUGH, CALLBACK_URL_INVALID, CODE_INVALID, CODE_LENGTH_INVALID, CODE_LENGTH_REQUIRED,
  PAYLOAD_INVALID, PHONE_NUMBER_INVALID, PHONE_NUMBER_NOT_FOUND, REQUEST_ID_INVALID,
  REQUEST_ID_REQUIRED, SENDER_NOT_OWNED, SENDER_NOT_VERIFIED, SENDER_USERNAME_INVALID, TTL_INVALID,
  UNKNOWN_METHOD, FLOOD_WAIT_<seconds>). Which condition yields which of them is our reading.

The API as emulated
-------------------
- ``GET`` or ``POST`` ``{base_url}METHOD_NAME``; method names are case-insensitive. Parameters in the
  query string, an ``application/x-www-form-urlencoded`` body or an ``application/json`` body (body
  values win over the query string).
- The token in ``Authorization: Bearer <token>`` or in the ``access_token`` parameter. None:
  ACCESS_TOKEN_REQUIRED; a wrong one: ACCESS_TOKEN_INVALID.
- Every answer is JSON ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
- sendVerificationMessage: ``phone_number`` E.164, digits with or without "+" (PHONE_NUMBER_INVALID);
  ``request_id`` from an unused checkSendAbility for the same number, then free (else
  REQUEST_ID_INVALID); ``sender_username`` (SENDER_USERNAME_INVALID, SENDER_NOT_VERIFIED when
  ``verified_senders`` is set and lacks it); ``code`` 4-8 digits (CODE_INVALID), else ``code_length``
  4-8 (CODE_LENGTH_INVALID) and then the emulator makes the code, neither: CODE_LENGTH_REQUIRED;
  ``callback_url`` HTTPS, at most 256 bytes (CALLBACK_URL_INVALID; plain http is allowed to loopback
  hosts only, so tests can receive); ``payload`` at most 128 bytes (PAYLOAD_INVALID); ``ttl`` 30-3600
  (TTL_INVALID); a charge of ``price`` (BALANCE_NOT_ENOUGH, nothing charged on any error).
- checkSendAbility charges ``price`` at once when the number can receive; the request_id it returns
  makes one following sendVerificationMessage free; a second use is an error. ``own_number`` is free.
- checkVerificationStatus (``request_id``, optional ``code``): with a code, verification_status is
  code_valid or code_invalid, code_max_attempts_exceeded from the ``max_attempts``-th wrong code,
  expired once the ttl has passed or the message expired or was revoked.
- revokeVerificationMessage: ``True``; the message turns ``revoked`` unless already delivered or read.
- RequestStatus: request_id, phone_number ("+" and digits), request_cost, is_refunded (only when
  true), remaining_balance (only in the answer to a call that charged), delivery_status {status,
  updated_at}, verification_status {status, updated_at, code_entered}, payload.
- Delivery reports: a POST of the RequestStatus JSON (compact, exact bytes signed) to callback_url
  with ``X-Request-Timestamp`` (Unix seconds) and ``X-Request-Signature`` =
  hex(HMAC_SHA256(key=SHA256(token), msg=timestamp + "\\n" + raw_body)). Anything but HTTP 200 is a
  failure, retried up to ``callback_retries`` (documented: 10) times with increasing delays.

Recipients, by the last digit of the phone number
-------------------------------------------------
- default: accepted; delivery reports ``sent`` then ``delivered``, each ``status_delay`` (0.05 s) apart.
- 3: cannot receive: checkSendAbility and sendVerificationMessage answer ``unreachable_error``
  (PHONE_NUMBER_NOT_FOUND: the closest string a real client knows; the docs only say "an appropriate
  error will be returned") and charge nothing.
- 7: ``sent``, then ``expired``: never delivered, the fee is refunded (``is_refunded``), as documented
  for a ttl that runs out.
- 9: accepted and charged, then silence: no status, no report (timeouts and fallback). Drive such a
  message by hand with ``await tg.post_status(request_id, "delivered")``.

Faults: ``tg.fail_next("FLOOD_WAIT_5")`` answers the next call with that error;
``tg.fail_next_http(502)`` with a bare non-JSON HTTP error, as from a proxy; ``tg.drop_next()``
closes the connection without an answer; ``tg.response_delay`` delays every answer (timeouts).

Left unspecified by the documentation (the emulator's choice, change it per test)
----------------------------------------------------------------------------------
- HTTP status of an ``ok: false`` answer: ``error_status`` (400). Read the JSON body whatever the status.
- Which error repeated or foreign use of a request_id gives (REQUEST_ID_INVALID here), which error a
  number that cannot receive gives (``unreachable_error``), and a missing phone_number
  (PHONE_NUMBER_INVALID here). Malformed JSON bodies are ignored (so the call fails validation).
- Whether the sendVerificationMessage answer already has a delivery_status: here it has none; the
  status appears with the first report. The limits of ``FLOOD_WAIT``, the number of code attempts
  (``max_attempts``, 3), the request_id format (decimal digits here), whether callbacks are reported
  for ``revoked`` (yes here) and whether a report's timestamp changes between retries (yes here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http
import itertools
import json
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

# The error strings (see the module docstring for where each comes from)
ACCESS_TOKEN_INVALID = "ACCESS_TOKEN_INVALID"
ACCESS_TOKEN_REQUIRED = "ACCESS_TOKEN_REQUIRED"
BALANCE_NOT_ENOUGH = "BALANCE_NOT_ENOUGH"
CALLBACK_URL_INVALID = "CALLBACK_URL_INVALID"
CODE_INVALID = "CODE_INVALID"
CODE_LENGTH_INVALID = "CODE_LENGTH_INVALID"
CODE_LENGTH_REQUIRED = "CODE_LENGTH_REQUIRED"
PAYLOAD_INVALID = "PAYLOAD_INVALID"
PHONE_NUMBER_INVALID = "PHONE_NUMBER_INVALID"
PHONE_NUMBER_NOT_FOUND = "PHONE_NUMBER_NOT_FOUND"
REQUEST_ID_INVALID = "REQUEST_ID_INVALID"
REQUEST_ID_REQUIRED = "REQUEST_ID_REQUIRED"
SENDER_NOT_OWNED = "SENDER_NOT_OWNED"
SENDER_NOT_VERIFIED = "SENDER_NOT_VERIFIED"
SENDER_USERNAME_INVALID = "SENDER_USERNAME_INVALID"
TTL_INVALID = "TTL_INVALID"
UNKNOWN_METHOD = "UNKNOWN_METHOD"

METHODS = (
    "sendVerificationMessage",
    "checkSendAbility",
    "checkVerificationStatus",
    "revokeVerificationMessage",
)
DELIVERY_STATUSES = ("sent", "delivered", "read", "expired", "revoked")
VERIFICATION_STATUSES = ("code_valid", "code_invalid", "code_max_attempts_exceeded", "expired")
CODE_LENGTHS = range(4, 9)
TTL_SECONDS = range(30, 3601)
CALLBACK_URL_BYTES = 256
PAYLOAD_BYTES = 128

PHONE = re.compile(r"\+?([1-9][0-9]{6,14})")  # E.164: at most 15 digits, no leading zero
CODE = re.compile(r"[0-9]{4,8}")
USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{4,31})")  # Telegram usernames: 5-32 characters
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FINAL = ("expired", "revoked")


def report_signature(token: str, timestamp: str | int, body: bytes | str) -> str:
    """``X-Request-Signature`` of a report, as documented: the hex HMAC-SHA-256 of
    ``timestamp + "\\n" + raw body`` keyed with the SHA-256 digest of the API token."""
    raw = body.encode() if isinstance(body, str) else body
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, str(timestamp).encode() + b"\n" + raw, hashlib.sha256).hexdigest()


class ApiError(Exception):
    """An ``{"ok": false, "error": ...}`` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Request:
    """One HTTP call received, whatever came of it."""

    method: str  # the path, as the client spelled it: "sendVerificationMessage"
    params: dict[str, Any]  # query string and body merged; JSON values keep their types
    headers: dict[str, str]  # lower-cased names
    http_method: str = "POST"
    at: float = field(default_factory=time.monotonic)


@dataclass
class Sent:
    """One verification message accepted by sendVerificationMessage."""

    request_id: str
    phone_number: str  # "+" and digits
    code: str  # the sender's code, or the one the emulator made for code_length
    ttl: int | None
    callback_url: str | None
    payload: str | None
    sender_username: str | None = None
    code_generated: bool = False
    cost: float = 0.0
    statuses: list[str] = field(default_factory=list)  # delivery statuses so far, in order
    at: float = field(default_factory=time.time)


@dataclass
class Delivery:
    """One attempt to POST a report to a callback_url."""

    request_id: str
    url: str
    status: str  # the delivery status reported
    body: bytes  # the exact bytes posted and signed
    timestamp: str
    signature: str
    http_status: int | None  # None: no HTTP answer (refused, reset, timed out)
    error: str | None = None
    attempt: int = 1
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Entry:
    """What the emulator knows of one request_id."""

    request_id: str
    phone_number: str
    cost: float
    from_ability: bool
    used: bool = False  # a checkSendAbility request_id already spent by a send
    sent: Sent | None = None
    delivery: tuple[str, int] | None = None
    verification: dict[str, Any] | None = None
    attempts: int = 0
    is_refunded: bool = False


@dataclass
class _Fault:
    kind: str  # "error", "http" or "drop"
    error: str = ""
    status: int | None = None
    body: bytes = b""


class TelegramGateway:
    def __init__(
        self,
        *,
        token: str = "tgtoken",  # noqa: S107 - a test account's token
        balance: float = 100.0,
        price: float = 0.01,
        status_delay: float = 0.05,
        own_number: str | None = None,  # the account owner's number: free of charge
        verified_senders: set[str] | None = None,  # None: any well-formed sender_username
        max_attempts: int = 3,
        error_status: int = 400,
        callback_retries: int = 10,
        callback_retry_delay: float = 0.02,  # the n-th retry waits n times this
        callback_timeout: float = 2.0,
    ) -> None:
        self.token = token
        self.balance = balance
        self.price = price
        self.status_delay = status_delay
        self.own_number = _phone(own_number) if own_number else None
        self.verified_senders = verified_senders
        self.max_attempts = max_attempts
        self.error_status = error_status
        self.callback_retries = callback_retries
        self.callback_retry_delay = callback_retry_delay
        self.callback_timeout = callback_timeout
        self.unreachable_error = PHONE_NUMBER_NOT_FOUND
        self.response_delay = 0.0
        self.port = 0
        self.requests: list[Request] = []  # every call, in order
        self.sent: list[Sent] = []  # every message accepted, in order
        self.deliveries: list[Delivery] = []  # every report attempt, in order
        self._entries: dict[str, _Entry] = {}
        self._ids = itertools.count(random.randrange(10**14, 9 * 10**14))
        self._faults: deque[_Fault] = deque()
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TelegramGateway:
        self._client = httpx.AsyncClient(timeout=self.callback_timeout)
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        assert self._client is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in [*self._tasks, *self._connections]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._connections, return_exceptions=True)
        await self._server.wait_closed()
        await self._client.aclose()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # What the test reads

    def calls(self, method: str) -> list[Request]:
        """The calls of one API method (matched case-insensitively, as the API does)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def message(self, request_id: str) -> Sent:
        sent = self._entries[request_id].sent
        if sent is None:
            raise KeyError(f"no message was sent for request_id {request_id}")
        return sent

    def status_of(self, request_id: str) -> dict[str, Any]:
        """The RequestStatus checkVerificationStatus would answer now (without a code)."""
        return self._status(self._entries[request_id])

    def sign(self, timestamp: str | int, body: bytes | str) -> str:
        return report_signature(self.token, timestamp, body)

    async def wait_for(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    # What the test makes it do

    def fail_next(self, error: str, *, times: int = 1, status: int | None = None) -> None:
        """Answer the next ``times`` calls ``{"ok": false, "error": error}`` (HTTP ``status``, default
        ``error_status``) without acting on them."""
        self._faults.extend(_Fault("error", error=error, status=status) for _ in range(times))

    def fail_next_http(self, status: int = 502, body: bytes = b"<html>Bad Gateway</html>", *,
                       times: int = 1) -> None:  # fmt: skip
        """Answer the next ``times`` calls with a bare HTTP error and a non-JSON body."""
        self._faults.extend(_Fault("http", status=status, body=body) for _ in range(times))

    def drop_next(self, *, times: int = 1) -> None:
        """Close the connection of the next ``times`` calls without answering."""
        self._faults.extend(_Fault("drop") for _ in range(times))

    async def post_status(self, request_id: str, status: str, *, timestamp: str | int | None = None,
                          signature: str | None = None) -> Delivery | None:  # fmt: skip
        """Set a message's delivery status by hand and report it to its callback_url (if any),
        retrying as usual; return the last attempt. ``timestamp`` and ``signature`` override the
        headers (stale or forged reports)."""
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"not a documented delivery status: {status}")
        entry = self._entries[request_id]
        return await self._report(entry, status, timestamp=timestamp, signature=signature)

    # The API

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "sendverificationmessage": self._send_verification_message,
            "checksendability": self._check_send_ability,
            "checkverificationstatus": self._check_verification_status,
            "revokeverificationmessage": self._revoke_verification_message,
        }
        handler = handlers.get(method.lower())
        if handler is None:
            raise ApiError(UNKNOWN_METHOD)
        return handler(params)

    def _authorize(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        header = headers.get("authorization")
        if header is None:
            given = _text(params, "access_token", ACCESS_TOKEN_INVALID)
            if given is None:
                raise ApiError(ACCESS_TOKEN_REQUIRED)
        else:
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer":
                raise ApiError(ACCESS_TOKEN_INVALID)
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise ApiError(ACCESS_TOKEN_INVALID)

    def _check_send_ability(self, params: dict[str, Any]) -> dict[str, Any]:
        phone = _phone(_text(params, "phone_number", PHONE_NUMBER_INVALID))
        self._reachable(phone)
        entry = _Entry(self._new_id(), phone, self._charge(phone), from_ability=True)
        self._entries[entry.request_id] = entry
        return self._status(entry, charged=True)

    def _send_verification_message(self, params: dict[str, Any]) -> dict[str, Any]:
        phone = _phone(_text(params, "phone_number", PHONE_NUMBER_INVALID))
        previous = self._previous(_text(params, "request_id", REQUEST_ID_INVALID), phone)
        sender = self._sender(_text(params, "sender_username", SENDER_USERNAME_INVALID))
        code, generated = _code(params)
        callback_url = _callback_url(_text(params, "callback_url", CALLBACK_URL_INVALID))
        payload = _text(params, "payload", PAYLOAD_INVALID)
        if payload is not None and len(payload.encode()) > PAYLOAD_BYTES:
            raise ApiError(PAYLOAD_INVALID)
        ttl = _integer(params, "ttl", TTL_INVALID)
        if ttl is not None and ttl not in TTL_SECONDS:
            raise ApiError(TTL_INVALID)
        self._reachable(phone)
        if previous is None:
            entry = _Entry(self._new_id(), phone, self._charge(phone), from_ability=False)
            self._entries[entry.request_id] = entry
        else:
            entry, previous.used = previous, True
        sent = Sent(entry.request_id, phone, code, ttl, callback_url, payload, sender, generated, entry.cost)
        entry.sent = sent
        self.sent.append(sent)
        self._spawn(self._deliver(entry))
        return self._status(entry, charged=previous is None)

    def _check_verification_status(self, params: dict[str, Any]) -> dict[str, Any]:
        entry = self._entry(params)
        code = _text(params, "code", CODE_INVALID)
        if code is not None and entry.sent is not None:
            entry.verification = {"status": self._verify(entry, entry.sent, code), "updated_at": _now(),
                                  "code_entered": code}  # fmt: skip
        return self._status(entry)

    def _revoke_verification_message(self, params: dict[str, Any]) -> bool:
        entry = self._entry(params)
        current = entry.delivery[0] if entry.delivery else None
        if entry.sent is not None and current in (None, "sent"):
            self._set_delivery(entry, "revoked")
            self._spawn(self._report(entry, "revoked", already_set=True))
        return True

    # The rules behind the methods

    def _reachable(self, phone: str) -> None:
        if phone.endswith("3"):
            raise ApiError(self.unreachable_error)

    def _charge(self, phone: str) -> float:
        cost = 0.0 if phone == self.own_number else self.price
        if cost > self.balance + 1e-9:
            raise ApiError(BALANCE_NOT_ENOUGH)
        self.balance = round(self.balance - cost, 6)
        return cost

    def _previous(self, request_id: str | None, phone: str) -> _Entry | None:
        if request_id is None:
            return None
        entry = self._entries.get(request_id)
        if entry is None or not entry.from_ability or entry.used or entry.phone_number != phone:
            raise ApiError(REQUEST_ID_INVALID)
        return entry

    def _sender(self, username: str | None) -> str | None:
        if username is None:
            return None
        match = USERNAME.fullmatch(username)
        if match is None:
            raise ApiError(SENDER_USERNAME_INVALID)
        if self.verified_senders is not None and match[1] not in self.verified_senders:
            raise ApiError(SENDER_NOT_VERIFIED)
        return match[1]

    def _entry(self, params: dict[str, Any]) -> _Entry:
        request_id = _text(params, "request_id", REQUEST_ID_INVALID)
        if request_id is None:
            raise ApiError(REQUEST_ID_REQUIRED)
        entry = self._entries.get(request_id)
        if entry is None:
            raise ApiError(REQUEST_ID_INVALID)
        return entry

    def _verify(self, entry: _Entry, sent: Sent, code: str) -> str:
        previous: str | None = entry.verification["status"] if entry.verification else None
        expired = sent.ttl is not None and time.time() > sent.at + sent.ttl
        if expired or (entry.delivery is not None and entry.delivery[0] in FINAL):
            return "expired"
        if previous in ("code_valid", "code_max_attempts_exceeded"):
            return previous
        if hmac.compare_digest(code.encode(), sent.code.encode()):
            return "code_valid"
        entry.attempts += 1
        return "code_max_attempts_exceeded" if entry.attempts >= self.max_attempts else "code_invalid"

    def _status(self, entry: _Entry, *, charged: bool = False) -> dict[str, Any]:
        status: dict[str, Any] = {
            "request_id": entry.request_id,
            "phone_number": entry.phone_number,
            "request_cost": entry.cost,
        }
        if entry.is_refunded:
            status["is_refunded"] = True
        if charged and entry.cost:
            status["remaining_balance"] = self.balance
        if entry.delivery is not None:
            status["delivery_status"] = {"status": entry.delivery[0], "updated_at": entry.delivery[1]}
        if entry.verification is not None:
            status["verification_status"] = dict(entry.verification)
        if entry.sent is not None and entry.sent.payload is not None:
            status["payload"] = entry.sent.payload
        return status

    def _new_id(self) -> str:
        return str(next(self._ids))

    # Delivery and reports

    async def _deliver(self, entry: _Entry) -> None:
        """The recipient's side: statuses by the number's last digit, reported as they happen."""
        if entry.phone_number.endswith("9"):
            return
        last = "expired" if entry.phone_number.endswith("7") else "delivered"
        for expected, status in ((None, "sent"), ("sent", last)):
            await asyncio.sleep(self.status_delay)
            if (entry.delivery[0] if entry.delivery else None) != expected:
                return  # revoked, or driven by hand meanwhile
            await self._report(entry, status)

    def _set_delivery(self, entry: _Entry, status: str) -> None:
        entry.delivery = (status, _now())
        if entry.sent is not None:
            entry.sent.statuses.append(status)
        if status == "expired" and entry.cost and not entry.is_refunded:
            entry.is_refunded = True
            self.balance = round(self.balance + entry.cost, 6)

    async def _report(
        self,
        entry: _Entry,
        status: str,
        *,
        timestamp: str | int | None = None,
        signature: str | None = None,
        already_set: bool = False,
    ) -> Delivery | None:
        if not already_set:
            self._set_delivery(entry, status)
        await self._notify()
        url = entry.sent.callback_url if entry.sent else None
        if url is None:
            return None
        body = json.dumps(self._status(entry), separators=(",", ":")).encode()
        delivery = None
        for attempt in range(1, self.callback_retries + 2):
            if attempt > 1:
                await asyncio.sleep(self.callback_retry_delay * (attempt - 1))
            delivery = await self._post(entry.request_id, url, status, body, attempt, timestamp, signature)
            if delivery.http_status == 200:
                break
        return delivery

    async def _post(self, request_id: str, url: str, status: str, body: bytes, attempt: int,
                    timestamp: str | int | None, signature: str | None) -> Delivery:  # fmt: skip
        assert self._client is not None
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = self.sign(stamp, body) if signature is None else signature
        headers = {"Content-Type": "application/json", "X-Request-Timestamp": stamp,
                   "X-Request-Signature": signed}  # fmt: skip
        answer: int | None = None
        error = None
        try:
            response = await self._client.post(url, content=body, headers=headers)
            answer = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(request_id, url, status, body, stamp, signed, answer, error, attempt)
        self.deliveries.append(delivery)
        await self._notify()
        return delivery

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # HTTP

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # only __aexit__ cancels; a cancelled handler task makes asyncio's streams log an error
        finally:
            self._writers.discard(writer)
            self._connections.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; return whether the connection stays open."""
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        http_method, target, version = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        body = await _read_body(reader, headers)
        answer = await self._answer(http_method.upper(), target, headers, body)
        if answer is None:
            writer.transport.abort()
            return False
        status, content_type, content = answer
        keep = version.upper() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        reply = (
            f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(content)}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        )
        writer.write(reply.encode() + content)
        await writer.drain()
        return keep

    async def _answer(self, http_method: str, target: str, headers: dict[str, str],
                      body: bytes) -> tuple[int, str, bytes] | None:  # fmt: skip
        url = urlsplit(target)
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        params.update(_body_params(headers.get("content-type", ""), body))
        method = url.path.strip("/")
        self.requests.append(Request(method, params, headers, http_method))
        await self._notify()
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "drop":
            return None
        if fault is not None and fault.kind == "http":
            return fault.status or 502, "text/html", fault.body
        try:
            if fault is not None:
                raise ApiError(fault.error)
            if http_method not in ("GET", "POST"):
                return 405, "application/json", _json({"ok": False, "error": "METHOD_NOT_ALLOWED"})
            self._authorize(headers, params)
            result = self._dispatch(method, params)
        except ApiError as exc:
            status = fault.status if fault is not None and fault.status else self.error_status
            return status, "application/json", _json({"ok": False, "error": exc.error})
        finally:
            await self._notify()
        return 200, "application/json", _json({"ok": True, "result": result})


# Parameters


def _text(params: dict[str, Any], name: str, error: str) -> str | None:
    """A string parameter; absent or empty is None. JSON numbers are taken as their digits."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError(error)
    return str(value)


def _integer(params: dict[str, Any], name: str, error: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        return int(value)
    raise ApiError(error)


def _phone(value: str | None) -> str:
    match = PHONE.fullmatch(value or "")
    if match is None:
        raise ApiError(PHONE_NUMBER_INVALID)
    return f"+{match[1]}"


def _code(params: dict[str, Any]) -> tuple[str, bool]:
    """The sender's code, or one made for code_length (ignored when a code is given)."""
    code = _text(params, "code", CODE_INVALID)
    if code is not None:
        if CODE.fullmatch(code) is None:
            raise ApiError(CODE_INVALID)
        return code, False
    length = _integer(params, "code_length", CODE_LENGTH_INVALID)
    if length is None:
        raise ApiError(CODE_LENGTH_REQUIRED)
    if length not in CODE_LENGTHS:
        raise ApiError(CODE_LENGTH_INVALID)
    return "".join(random.choices("0123456789", k=length)), True


def _callback_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not secure or not parts.hostname or len(url.encode()) > CALLBACK_URL_BYTES:
        raise ApiError(CALLBACK_URL_INVALID)
    return url


def _body_params(content_type: str, body: bytes) -> dict[str, Any]:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        with contextlib.suppress(ValueError):
            loaded = json.loads(body)
            return loaded if isinstance(loaded, dict) else {}
        return {}
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    return {}


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        return b"".join(chunks)
    return await reader.readexactly(int(headers.get("content-length") or 0))


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _now() -> int:
    return int(time.time())
