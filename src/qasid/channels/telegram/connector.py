"""The Telegram Gateway API connector: our code, sent by Telegram's "Verification Codes" account.

``sendVerificationMessage`` gets the number, our code, the seconds the code has left (``ttl``, 30
to 3600), the message id as ``payload`` and, when configured, the ``callback_url`` at which Telegram
reports delivery (``qasid.api.webhooks``: ``delivered`` and ``read`` deliver the message, ``expired``
and ``revoked`` end it). With ``check_send_ability`` it first asks ``checkSendAbility`` whether the
number can receive, and passes the ``request_id`` it got on, as the API allows (the check is then
free). Telegram's ``request_id`` is the carrier id.

Errors: ``FLOOD_WAIT_*``, ``INTERNAL_*``, 5xx and network failures are transient; every other
refusal (a bad token, a number that cannot receive codes, no balance left) is permanent, so the
verification's next channel takes over at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import msgspec
import structlog
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted, TransientError
from qasid.channels.registry import ConnectorKind, register

log = structlog.get_logger(__name__)
MIN_TTL, MAX_TTL = 30, 3600


class TelegramConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: Annotated[str, Meta(min_length=1, description="the Gateway API token (also keys callbacks)")]
    base_url: str = "https://gatewayapi.telegram.org/"
    callback_url: (
        Annotated[str, Meta(pattern=r"^https?://", description="this gateway's /webhooks/telegram/NAME")]
        | None
    ) = None
    check_send_ability: bool = False
    sender_username: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_]{5,32}$")] | None = None
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0


class TelegramConnector(Connector):
    kind = "telegram"

    def __init__(self, connector_id: str, name: str, config: TelegramConfig) -> None:
        super().__init__(connector_id, name)
        self.config = config
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        base = self.config.base_url if self.config.base_url.endswith("/") else self.config.base_url + "/"
        self._http = httpx.AsyncClient(
            base_url=base,
            timeout=self.config.timeout_seconds,
            headers={"Authorization": f"Bearer {self.config.token}"},
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def submit(self, message: Outbound) -> Submitted:
        code = message.code
        if code is None:
            raise PermanentError("NOT_A_CODE", "the Telegram connector sends verification codes only")
        params: dict[str, Any] = {
            "phone_number": message.recipient,
            "code": code.code,
            "payload": message.message_id,
        }
        if self.config.check_send_ability:
            able = await self._call("checkSendAbility", {"phone_number": message.recipient})
            params["request_id"] = able["request_id"]
        params["ttl"] = _ttl(message)
        if self.config.callback_url:
            params["callback_url"] = self.config.callback_url
        if self.config.sender_username:
            params["sender_username"] = self.config.sender_username
        status = await self._call("sendVerificationMessage", params)
        return Submitted((str(status["request_id"]),))

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self._http is None:
            raise TransientError("NOT_STARTED", "the connector is not started")
        try:
            response = await self._http.post(method, json=params)
        except httpx.HTTPError as exc:
            raise TransientError("NETWORK", f"Telegram could not be reached: {exc!r}") from None
        if response.status_code >= 500:
            raise TransientError(f"HTTP_{response.status_code}", response.text[:200])
        try:
            answer = response.json()
        except ValueError:
            raise TransientError("BAD_ANSWER", f"unexpected answer: {response.text[:200]}") from None
        if isinstance(answer, dict) and answer.get("ok") is True and isinstance(answer.get("result"), dict):
            result: dict[str, Any] = answer["result"]
            return result
        error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        error = error or f"HTTP_{response.status_code}"
        if error.startswith(("FLOOD_WAIT", "INTERNAL")) or response.status_code == 429:
            raise TransientError(error, f"{method}: {error}")
        raise PermanentError(error, f"{method}: {error}")


def _ttl(message: Outbound) -> int:
    """What the code has left, in the range Telegram takes."""
    assert message.code is not None  # noqa: S101 - checked by submit()
    left = int((message.code.expires_at - datetime.now(UTC)).total_seconds())
    return max(MIN_TTL, min(MAX_TTL, left))


def _build(connector_id: str, name: str, config: Any, _context: Context) -> Connector:
    return TelegramConnector(connector_id, name, config)


register(
    ConnectorKind(
        name="telegram",
        channel="telegram",
        config_type=TelegramConfig,
        factory=_build,
        description="Telegram Gateway API: verification codes from Telegram's Verification Codes account",
        secrets=("token",),
    )
)
