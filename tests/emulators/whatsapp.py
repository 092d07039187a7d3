"""A local emulator of the WhatsApp Cloud API (Meta Graph API), built from its documentation, for tests
of a connector that sends one-time codes as authentication templates and takes status webhooks.

    async with WhatsAppCloud(token="tok", app_secret="appsecret", phone_number_id="1234567890",
                             templates={"qasid_otp": ["en", "ar"]}) as wa:
        wa.webhook_url = receiver_url          # where signed status webhooks are POSTed
        ... POST f"{wa.base_url}/v21.0/1234567890/messages" with "Authorization: Bearer tok" ...
        await wa.wait_for(lambda: len(wa.deliveries) == 2)

It serves HTTP/1.1 on 127.0.0.1 (a port of its own, read back) from the test's running event loop, and
keeps everything it received (``requests``), what it answered (``Received.status``/``response``), the
messages it accepted (``messages``) and every webhook it delivered with the receiver's HTTP status
(``deliveries``). Give it ``webhook_client`` (say an httpx client on an ASGI transport) to deliver
webhooks in-process; ``LocalHttpServer`` serves any small handler, e.g. a test's webhook receiver.

Documentation followed (developers.facebook.com, WhatsApp Business Platform, as stored in 2026):

* "Copy code authentication templates", section "Sending authentication templates":
  /documentation/business-messaging/whatsapp/templates/authentication-templates/copy-code-button-authentication-templates
  -- ``POST /<API_VERSION>/<PHONE_NUMBER_ID>/messages``, the body/button(``sub_type: "url"``,
  ``index: "0"``) components, "the one-time password must appear twice", "maximum 15 characters", and the
  success response ``{messaging_product, contacts: [{input, wa_id}], messages: [{id}]}``.
* "Authentication templates" (.../authentication-templates/authentication-templates): the template
  is fixed text "<CODE> is your verification code." plus a copy-code button (created as OTP, stored as URL).
* "Error codes" (/documentation/business-messaging/whatsapp/support/error-codes): the envelope
  ``{"error": {message "(#code) title", type, code, error_data: {messaging_product, details},
  error_subcode (deprecated, not in v16.0+), fbtrace_id}}`` and the codes and their details below.
* "Status messages webhook reference" (.../whatsapp/webhooks/reference/messages/status): the
  ``whatsapp_business_account`` payload, ``statuses[]`` with id/status/timestamp/recipient_id,
  ``conversation`` (omitted from v24.0 on), ``pricing`` (sent and delivered only: billable,
  pricing_model "PMP", type "regular", category), ``errors[{code, title, message, error_data: {details},
  href}]`` on failures, ``biz_opaque_callback_data`` echoed when the send set it.
* "Create a webhook endpoint" (.../whatsapp/webhooks/create-webhook-endpoint): the GET verification
  (``hub.mode=subscribe``, ``hub.challenge``, ``hub.verify_token``; verified only on HTTP 200 echoing the
  challenge) and ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the payload keyed by the app secret>``;
  failed POSTs are "retried immediately, then a few more times with decreasing frequency over 7 days".
* Graph API "Webhooks: Getting started" (/docs/graph-api/webhooks/getting-started): the signature is
  computed over "an escaped unicode version of the payload, with lowercase hex digits" -- so bodies
  here are ASCII JSON with ``\\uXXXX`` escapes, and the signature covers exactly the bytes sent.

Recipients behave by the last digit of the number (override with ``wa.behaviour``):

* any other digit -- accepted; webhooks ``sent`` then ``delivered`` (``status_delay`` apart).
* ``3`` -- accepted; webhook ``failed`` with error 131026 "Message undeliverable" (no ``sent`` first).
* ``4`` -- refused at once: HTTP 400, code 131030 "Recipient phone number not in allowed list".
* ``9`` -- accepted, then silence: no webhook ever (for timeout and fallback tests).

A ``"type": "text"`` message is accepted and then fails by webhook with 131047 (re-engagement: these
recipients never wrote first). ``fail_next``, ``rate_limited`` and ``pair_rate_limit`` make sends fail.

Synchronous errors implemented, with the HTTP status used (T = transient, retry later; P = permanent):

    190    401 P  invalid/expired access token (also a missing one)   100 400 P  invalid parameter, bad JSON
    100/33 400 P  unknown phone number id (GraphMethodException)     131008 400 P  required parameter missing
    131009 400 P  parameter value not valid (bad ``to``, OTP > 15, body and button codes differ)
    131030 400 P  recipient not in allowed list (last digit 4)       132000 400 P  parameter count mismatch
    132001 404 P  template name does not exist in the translation   132012 400 P  parameter format mismatch
    130429 429 T  rate limit hit (``rate_limited``)                  131056 429 T  pair rate limit hit
    131000 500 T  something went wrong (``fail_next``)               131016 503 T  service unavailable

Where the documentation is silent, and what this emulator chose:

* The current error-codes page gives no HTTP status per code (except 400 for 100 and 131009 under the
  Marketing Messages API). The statuses above follow the page's older revision as mirrored by providers
  (ycloud "Handle WhatsApp errors", aivo) and responses seen in public client tests (132001 -> 404,
  131030 -> 400, 190 -> 401, 131056 -> 429 "retry the calls that return HTTP 429").
* Exact ``details`` strings for malformed sends (missing ``to``, missing button, wrong ``sub_type``) are not
  documented; those here are modelled on ones seen in the wild. Codes and statuses are what to rely on.
* What happens when the body and button codes differ, or the code is longer than 15 characters: the
  docs only say it must appear twice and is at most 15 characters; this emulator refuses with 131009.
* A missing token: the docs mention codes 200, 190 or 104 depending on the endpoint; here 190/401.
* Whether an undeliverable message gets ``sent`` before ``failed``, the delay between statuses, the
  131056 threshold (``pair_rate_limit`` seconds, off by default) and the retry schedule (``webhook_retries``
  attempts ``webhook_retry_delay`` apart, 0 by default) are not documented.
* ``hub.challenge`` is "an int" in the Graph guide and "a random string" in the WhatsApp guide: digits here.
* The JSON layout of webhook bodies (whitespace, escaping of ``/``) is unspecified: compact here.
* Meta asks receivers for HTTP 200; whether it retries after another 2xx is not said: here any 2xx is
  acknowledged (``Delivery.ok``), and ``Delivery.status`` keeps the exact status for tests to check.
* With no ``webhook_url`` set (Meta has no callback URL) statuses are dropped, recorded as deliveries
  with ``error`` set. Failures of the emulator itself (a handler or background task raising) are kept in
  ``errors`` and raised again when the ``async with`` block ends.
* Success responses carry ``message_status: "accepted"`` (documented for template sends; pacing's
  ``held_for_quality_assessment``/``paused`` are not emulated). Messages are never "read" on their own:
  use ``post_status(wamid, "read")``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import re
import secrets
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer

StatusErrors = Sequence[int | Mapping[str, Any]] | None  # error codes, or whole error objects

# What Meta calls each error (the "title", also in ``message`` as "(#code) title"), its documented
# ``details``, and the HTTP status this emulator answers with when the error is synchronous.
TITLES: dict[int, str] = {
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131005: "Access denied",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131031: "Account has been locked",
    131042: "Business eligibility payment issue",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is paused",
}
DETAILS: dict[int, str] = {
    2: "Temporary due to downtime or due to being overloaded.",
    4: "The app has reached its API call rate limit.",
    100: "The request included one or more unsupported or misspelled parameters.",
    80007: "The WhatsApp Business Account has reached its rate limit.",
    130429: "Cloud API message throughput has been reached.",
    131000: "Message failed to send due to an unknown error.",
    131008: "The request is missing a required parameter.",
    131009: "One or more parameter values are invalid.",
    131016: "A service is temporarily unavailable.",
    131026: "Message Undeliverable.",
    131030: "Recipient phone number not in allowed list",
    131047: "More than 24 hours have passed since the recipient last replied to the sender number.",
    131048: "Message failed to send because there are restrictions on how many messages can be sent "
    "from this phone number.",
    131051: "Unsupported message type.",
    131056: "Too many messages sent from the sender phone number to the same recipient phone number "
    "in a short period of time.",
    132000: "The number of variable parameter values included in the request did not match the number "
    "of variable parameters defined in the template.",
    132001: "The template does not exist in the specified language or the template has not been approved.",
    132012: "Variable parameter values formatted incorrectly.",
}
HTTP_STATUS: dict[int, int] = {
    2: 503,
    4: 429,
    100: 400,
    190: 401,
    368: 403,
    80007: 429,
    130429: 429,
    131000: 500,
    131005: 403,
    131008: 400,
    131009: 400,
    131016: 503,
    131026: 400,
    131030: 400,
    131031: 403,
    131042: 400,
    131047: 400,
    131048: 429,
    131051: 400,
    131056: 429,
    132000: 400,
    132001: 404,
    132012: 400,
    132015: 400,
}
# Worth retrying later, as the error-codes page advises ("try again later", "wait and retry").
TRANSIENT: frozenset[int] = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004})
ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"
INVALID_TOKEN = "Invalid OAuth access token - Cannot parse access token"
MAX_CODE_LENGTH = 15  # "Maximum 15 characters"
MESSAGES_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/messages/?$")
STATUS_FIELDS_WITH_PRICING = ("sent", "delivered")


class Behaviour(StrEnum):
    """What happens to a message accepted for (or refused to) a recipient."""

    DELIVER = "deliver"  # sent, then delivered
    UNDELIVERABLE = "undeliverable"  # failed 131026
    REFUSE = "refuse"  # HTTP 400, 131030, at send time
    SILENT = "silent"  # accepted, no webhook ever


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every emulator in the process (building one costs ~40 ms)."""
    return ssl.create_default_context()


def by_last_digit(wa_id: str) -> Behaviour:
    return {"3": Behaviour.UNDELIVERABLE, "4": Behaviour.REFUSE, "9": Behaviour.SILENT}.get(
        wa_id[-1:], Behaviour.DELIVER
    )


def error_object(code: int, details: str | None = None, title: str | None = None) -> dict[str, Any]:
    """An entry of a status webhook's ``errors`` array (title and message are the same value)."""
    title = title or TITLES.get(code, "Unknown error")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or DETAILS.get(code, title)},
        "href": ERROR_CODES_HREF,
    }


class GraphError(Exception):
    """A synchronous Graph API error: the HTTP status and the ``{"error": {...}}`` envelope."""

    def __init__(self, code: int, details: str | None = None, *, status: int | None = None,
                 message: str | None = None, error_type: str = "OAuthException",
                 subcode: int | None = None) -> None:  # fmt: skip
        self.code = code
        self.status = status or HTTP_STATUS.get(code, 400)
        self.details = details
        self.message = message or f"(#{code}) {TITLES.get(code, 'Unknown error')}"
        self.error_type = error_type
        self.subcode = subcode
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
        return {"error": error}


# The emulator


@dataclass
class Received:
    """One request to the Graph API emulator and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any  # the parsed JSON body (None if it was not JSON)
    status: int = 0  # the HTTP status answered
    response: dict[str, Any] = field(default_factory=dict)  # the JSON answered
    at: float = field(default_factory=time.monotonic)

    @property
    def error_code(self) -> int | None:
        error = self.response.get("error")
        return error.get("code") if isinstance(error, dict) else None


@dataclass
class Message:
    """A message the emulator accepted."""

    wamid: str
    to: str  # as the request gave it
    wa_id: str
    type: str
    template: str | None
    language: str | None
    code: str | None  # the one-time code, from the body parameter
    version: str  # the Graph API version in the request path, e.g. "v21.0"
    behaviour: Behaviour
    callback_data: str | None = None  # biz_opaque_callback_data
    statuses: list[str] = field(default_factory=list)  # statuses posted so far


@dataclass
class Delivery:
    """One webhook POST: the exact bytes sent, their signature, and how the receiver answered."""

    url: str
    body: bytes
    signature: str
    payload: dict[str, Any]
    status: int | None = None  # the receiver's HTTP status; None if it could not be reached
    error: str | None = None
    attempt: int = 1
    at: float = field(default_factory=time.monotonic)

    @property
    def statuses(self) -> list[dict[str, Any]]:
        return [
            status
            for entry in self.payload.get("entry", [])
            for change in entry.get("changes", [])
            for status in change.get("value", {}).get("statuses", [])
        ]

    @property
    def ok(self) -> bool:
        """Acknowledged. Meta asks for 200; any 2xx stops retries here (the docs do not say)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Handshake:
    url: str
    challenge: str
    status: int | None
    answer: str
    ok: bool


@dataclass
class _Failure:
    status: int
    code: int
    message: str | None
    details: str | None


class WhatsAppCloud:
    """The Graph API ``/{version}/{phone_number_id}/messages`` endpoint and the ``messages`` webhook, for
    authentication templates with a copy-code button (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str = "tok",  # noqa: S107 - an emulator's credentials
        app_secret: str = "appsecret",  # noqa: S107
        phone_number_id: str = "1234567890",
        templates: Mapping[str, Iterable[str]] | None = None,
        verify_token: str = "verifytoken",  # noqa: S107
        webhook_url: str | None = None,
        status_delay: float = 0.05,
        waba_id: str = "102290129340398",
        display_phone_number: str = "15550783881",
        webhook_client: httpx.AsyncClient | None = None,
        webhook_timeout: float = 5.0,
        webhook_retries: int = 0,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        self.token = token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.templates: dict[str, set[str]] = {
            name: set(languages) for name, languages in (templates or {"qasid_otp": ["en"]}).items()
        }
        self.verify_token = verify_token
        self.webhook_url = webhook_url
        self.status_delay = status_delay
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.webhook_timeout = webhook_timeout
        self.webhook_retries = webhook_retries
        self.webhook_retry_delay = webhook_retry_delay
        self.behaviour: Callable[[str], Behaviour] = by_last_digit
        self.rate_limited = False  # every send answers 429 / 130429 while set
        self.pair_rate_limit: float | None = None  # seconds between two sends to one recipient, or 131056

        self.requests: list[Received] = []  # every request, in order, with what was answered
        self.messages: dict[str, Message] = {}  # accepted messages by wamid, in order
        self.deliveries: list[Delivery] = []  # every webhook POST attempt, in order
        self.handshakes: list[Handshake] = []
        self.errors: list[BaseException] = []  # the emulator's own failures, raised again at exit

        self._failures: list[_Failure] = []
        self._last_send: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._external_client = webhook_client
        self._client: httpx.AsyncClient | None = None
        self._server = LocalHttpServer(self._handle)
        self._server.errors = self.errors
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> WhatsAppCloud:
        await self._server.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None and self._client is not self._external_client:
            await self._client.aclose()
        await self._server.__aexit__()
        if self.errors and exc_type is None:
            raise self.errors[0]

    # What the test reads

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def messages_url(self, version: str = "v21.0") -> str:
        return f"{self.base_url}/{version}/{self.phone_number_id}/messages"

    @property
    def sent(self) -> list[Message]:
        return list(self.messages.values())

    async def wait_for(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``condition()`` holds; it is checked again after each request, webhook and
        handshake the emulator makes or takes."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    # What the test makes it do

    def fail_next(self, status: int, code: int, message: str | None = None, *, details: str | None = None,
                  times: int = 1) -> None:  # fmt: skip
        """Refuse the next ``times`` sends (after the token and phone number id are checked) with this
        HTTP status and Graph error code, e.g. ``fail_next(429, 130429)`` or ``fail_next(500, 131000)``."""
        self._failures.extend(_Failure(status, code, message, details) for _ in range(times))

    def sign(self, body: bytes) -> str:
        """The ``X-Hub-Signature-256`` value for ``body``: sha256= and the lowercase hex HMAC-SHA256."""
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    def status_payload(
        self, wamid: str, status: str, errors: StatusErrors = None, *, recipient_id: str | None = None
    ) -> dict[str, Any]:
        """The ``messages`` webhook for one status of ``wamid``, as documented."""
        message = self.messages.get(wamid)
        entry: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": recipient_id or (message.wa_id if message else ""),
        }
        if message is not None and message.callback_data is not None:
            entry["biz_opaque_callback_data"] = message.callback_data
        if message is not None and message.type == "template" and status in STATUS_FIELDS_WITH_PRICING:
            if _major(message.version) < 24:  # "Omitted entirely for v24.0+"
                conversation: dict[str, Any] = {"id": hashlib.md5(wamid.encode()).hexdigest()}  # noqa: S324
                if status == "sent":
                    conversation["expiration_timestamp"] = str(int(time.time()) + 86400)
                conversation["origin"] = {"type": "authentication"}
                entry["conversation"] = conversation
            entry["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "type": "regular",
                "category": "authentication",
            }
        if errors:
            entry["errors"] = [error_object(e) if isinstance(e, int) else dict(e) for e in errors]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
            "statuses": [entry],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}],
        }

    async def post_status(
        self, wamid: str, status: str, errors: StatusErrors = None, *, recipient_id: str | None = None
    ) -> Delivery:
        """POST a signed status webhook for ``wamid`` now (any status; errors as codes or objects),
        retried ``webhook_retries`` times if the receiver does not answer 200. Returns the last attempt."""
        payload = self.status_payload(wamid, status, errors, recipient_id=recipient_id)
        if wamid in self.messages:
            self.messages[wamid].statuses.append(status)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        delivery = await self._post(body, payload, attempt=1)
        for attempt in range(2, self.webhook_retries + 2):
            if delivery.ok:
                break
            await asyncio.sleep(self.webhook_retry_delay)
            delivery = await self._post(body, payload, attempt=attempt)
        return delivery

    def message_payload(self, wa_id: str, text: str, *, name: str = "Customer") -> dict[str, Any]:
        """The ``messages`` webhook for a text a WhatsApp user sent to the business number, as
        documented ("Text messages" in the webhook payload reference): ``contacts`` and ``messages``
        beside the ``metadata`` of the number it was sent to."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": "wamid." + base64.b64encode(secrets.token_bytes(30)).decode(),
                    "timestamp": str(int(time.time())),
                    "text": {"body": text},
                    "type": "text",
                }
            ],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": "messages"}]}],
        }

    async def post_message(self, wa_id: str, text: str) -> Delivery:
        """POST a signed webhook of a text a user sent to the business number."""
        payload = self.message_payload(wa_id, text)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return await self._post(body, payload, attempt=1)

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """POST the very same bytes again, as Meta does when it retries (for duplicate handling)."""
        return await self._post(delivery.body, delivery.payload, attempt=delivery.attempt + 1)

    async def verify_handshake(
        self, *, challenge: str | None = None, verify_token: str | None = None
    ) -> bool:
        """The GET verification request to ``webhook_url``: True if it answered 200 with the challenge."""
        if not self.webhook_url:
            raise RuntimeError("set wa.webhook_url before the handshake")
        url = self.webhook_url
        challenge = challenge or str(secrets.randbelow(10**10))
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": self.verify_token if verify_token is None else verify_token,
        }
        try:
            response = await self._webhook_client().get(url, params=params)
            status, answer = response.status_code, response.text
        except httpx.HTTPError as exc:
            status, answer = None, repr(exc)
        ok = status == 200 and answer.strip() == challenge
        self.handshakes.append(Handshake(url, challenge, status, answer, ok))
        await self._notify()
        return ok

    # Serving the Graph API

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        received = Received(
            request.method, request.path, request.headers, request.body, _json_or_none(request.body)
        )
        self.requests.append(received)
        headers: dict[str, str] = {}
        try:
            status, answer = self._answer(request, received)
        except GraphError as error:
            status, answer = error.status, error.envelope()
            if error.code == 190:
                headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{error.message}"'
        received.status, received.response = status, answer
        headers["x-fb-trace-id"] = secrets.token_urlsafe(8)
        await self._notify()
        return HttpResponse.json(status, answer, headers)

    def _answer(self, request: HttpRequest, received: Received) -> tuple[int, dict[str, Any]]:
        match = MESSAGES_PATH.match(request.path)
        if match is None or request.method != "POST":
            raise GraphError(2500, status=400, message=f"Unknown path components: {request.path}")
        version, phone_number_id = match.groups()
        self._authenticate(request)
        if phone_number_id != self.phone_number_id:
            raise GraphError(
                100,
                status=400,
                error_type="GraphMethodException",
                subcode=33,
                message=f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation. Please "
                "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            )
        if self._failures:
            failure = self._failures.pop(0)
            raise GraphError(failure.code, failure.details or DETAILS.get(failure.code, ""),
                             status=failure.status, message=failure.message)  # fmt: skip
        if self.rate_limited:
            raise GraphError(130429, DETAILS[130429], subcode=2494055)
        message = self._validate(received.body, version)
        behaviour = message.behaviour
        if behaviour is Behaviour.REFUSE:
            raise GraphError(131030, DETAILS[131030])
        now = time.monotonic()
        last = self._last_send.get(message.wa_id)
        if self.pair_rate_limit is not None and last is not None and now - last < self.pair_rate_limit:
            raise GraphError(131056, DETAILS[131056], subcode=2494055)
        self._last_send[message.wa_id] = now
        self.messages[message.wamid] = message
        self._spawn(self._statuses(message))
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": message.to, "wa_id": message.wa_id}],
            "messages": [{"id": message.wamid, "message_status": "accepted"}],
        }

    def _authenticate(self, request: HttpRequest) -> None:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            token = request.param("access_token") or ""
        if not token or not hmac.compare_digest(token.strip(), self.token):
            raise GraphError(190, status=401, message=INVALID_TOKEN)

    def _validate(self, body: Any, version: str) -> Message:
        if not isinstance(body, dict):
            raise GraphError(100, "The request body must be a JSON object.")
        product = body.get("messaging_product")
        if product is None:
            raise GraphError(100, message="(#100) The parameter messaging_product is required.")
        if product != "whatsapp":
            raise GraphError(
                100, message=f'(#100) Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
            )
        to, wa_id = _recipient(body.get("to"))
        kind = body.get("type", "text")  # the documented default
        name = language = code = None
        if kind == "template":
            name, language, code = self._template(body.get("template"))
        elif kind != "text":
            raise GraphError(100, f"Unsupported message type for this emulator: {kind!r}.")
        callback_data = body.get("biz_opaque_callback_data")
        return Message(
            self._wamid(wa_id),
            to=to,
            wa_id=wa_id,
            type=kind,
            template=name,
            language=language,
            code=code,
            version=version,
            behaviour=self.behaviour(wa_id),
            callback_data=None if callback_data is None else str(callback_data),
        )

    def _template(self, template: Any) -> tuple[str, str, str]:
        if not isinstance(template, dict):
            raise GraphError(131008, "The parameter template is required.")
        name = template.get("name")
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(name, str) or not name:
            raise GraphError(131008, "The parameter template.name is required.")
        if not isinstance(code, str) or not code:
            raise GraphError(131008, "The parameter template.language.code is required.")
        if code not in self.templates.get(name, set()):
            raise GraphError(132001, f"template name ({name}) does not exist in {code}")
        return name, code, _check_components(template.get("components"))

    def _wamid(self, wa_id: str) -> str:
        raw = f"{wa_id}\x15\x02\x00\x11\x18\x12{next(self._ids):04X}{secrets.token_hex(7).upper()}"
        return "wamid." + base64.b64encode(raw.encode()).decode()

    async def _statuses(self, message: Message) -> None:
        await asyncio.sleep(self.status_delay)
        if message.behaviour is Behaviour.SILENT:
            return
        if message.type != "template":
            await self.post_status(message.wamid, "failed", [131047])
        elif message.behaviour is Behaviour.UNDELIVERABLE:
            await self.post_status(message.wamid, "failed", [131026])
        else:
            await self.post_status(message.wamid, "sent")
            await asyncio.sleep(self.status_delay)
            await self.post_status(message.wamid, "delivered")

    # Delivering webhooks

    def _webhook_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._external_client or httpx.AsyncClient(
                timeout=self.webhook_timeout, verify=_tls_context()
            )
        return self._client

    async def _post(self, body: bytes, payload: dict[str, Any], *, attempt: int) -> Delivery:
        signature = self.sign(body)
        delivery = Delivery(self.webhook_url or "", body, signature, payload, attempt=attempt)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature,
            "User-Agent": "facebookexternalua",
        }
        if not self.webhook_url:
            delivery.error = "no webhook_url set: nothing was sent"
        else:
            try:
                response = await self._webhook_client().post(self.webhook_url, content=body, headers=headers)
                delivery.status = response.status_code
            except httpx.HTTPError as exc:
                delivery.error = repr(exc)
        self.deliveries.append(delivery)
        await self._notify()
        return delivery

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            self.errors.append(failure)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _recipient(to: Any) -> tuple[str, str]:
    """``to`` as given, and the digits WhatsApp would answer as ``wa_id``."""
    if not isinstance(to, str) or not to:
        raise GraphError(131008, "The parameter to is required.")
    wa_id = to.removeprefix("+")
    if not wa_id.isdigit() or not 7 <= len(wa_id) <= 15:
        raise GraphError(131009, "The phone number is malformed: use the international format, digits only.")
    return to, wa_id


def _check_components(components: Any) -> str:
    """The one-time code, if the components fit an authentication template with a copy-code button:
    a body with one text parameter and a URL button at index 0 with the same code."""
    if components is None:
        components = []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise GraphError(100, "template.components must be an array of objects.")
    bodies = [c for c in components if str(c.get("type", "")).lower() == "body"]
    buttons = [c for c in components if str(c.get("type", "")).lower() == "button"]
    for other in components:
        kind = str(other.get("type", "")).lower()
        if kind not in ("body", "button"):
            count = len(other.get("parameters") or [])
            raise GraphError(132000, f"{kind}: number of localizable_params ({count}) does not match the "
                             "expected number of params (0)")  # fmt: skip
    code = _single_text(bodies[0] if bodies else {}, "body")
    if not buttons:
        raise GraphError(131008, "buttons: Button at index 0 of type Url requires a parameter")
    button = buttons[0]
    if str(button.get("sub_type", "")).lower() != "url":
        raise GraphError(131009, f"buttons: Button at index 0 is of type Url, not {button.get('sub_type')!r}")
    if str(button.get("index")) != "0" or len(buttons) > 1:
        raise GraphError(131009, "buttons: the template has one button, at index 0")
    if _single_text(button, "button") != code:
        raise GraphError(131009, "The one-time password must be the same in the body and the button.")
    if len(code) > MAX_CODE_LENGTH:
        raise GraphError(131009, f"The one-time password must be at most {MAX_CODE_LENGTH} characters.")
    return code


def _single_text(component: Mapping[str, Any], where: str) -> str:
    parameters = component.get("parameters") or []
    if not isinstance(parameters, list) or len(parameters) != 1:
        count = len(parameters) if isinstance(parameters, list) else 0
        raise GraphError(132000, f"{where}: number of localizable_params ({count}) does not match the "
                         "expected number of params (1)")  # fmt: skip
    parameter = parameters[0]
    text = parameter.get("text") if isinstance(parameter, dict) else None
    if (
        not isinstance(parameter, dict)
        or parameter.get("type") != "text"
        or not isinstance(text, str)
        or not text
    ):
        raise GraphError(132012, f"{where}: the parameter must be of type text, with a non-empty text.")
    return text


def _json_or_none(raw: bytes) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    return None


def _major(version: str) -> int:
    return int(version.lstrip("v").split(".", 1)[0])
