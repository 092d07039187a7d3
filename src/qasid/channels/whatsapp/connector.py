"""The WhatsApp Cloud API connector: verification codes as authentication template messages.

A code goes out as ``POST {base_url}/{api_version}/{phone_number_id}/messages`` with the account's
authentication template (body parameter: the code; the copy-code button's URL parameter: the code
again), in the template language mapped from the verification's locale. Meta answers with a
``wamid``, the carrier id its status webhooks name later (``qasid.api.webhooks``): ``delivered`` and
``read`` deliver the message, ``failed`` ends it undelivered with Meta's error code, which brings
the verification's next channel forward.

Errors: 429, Meta's throttling codes (4, 80007, 130429, 131048, 131056), 5xx and network failures
are transient (the dispatcher retries, and the fallback timer runs meanwhile); every other refusal
(a bad token, an unknown template, a number not on WhatsApp) is permanent, so the next channel
takes over at once.

Each account may use its own WhatsApp Business number, token and template (``accounts``); the
others use the connector's own.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import msgspec
import structlog
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted, TransientError
from qasid.channels.registry import ConnectorKind, register

log = structlog.get_logger(__name__)
THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})
Digits = Annotated[str, Meta(pattern=r"^[0-9]{5,20}$")]


class AccountSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One account's own WhatsApp Business number and template."""

    phone_number_id: Digits
    token: Annotated[str, Meta(min_length=1)]
    template: Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,512}$")] | None = None


class WhatsAppConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    phone_number_id: Digits
    token: Annotated[str, Meta(min_length=1, description="a system user's access token")]
    app_secret: Annotated[
        str, Meta(min_length=1, description="checks X-Hub-Signature-256 on status webhooks")
    ]
    verify_token: Annotated[str, Meta(min_length=1, description="answers Meta's webhook handshake")]
    template: Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,512}$")] = "qasid_otp"
    languages: dict[str, str] = msgspec.field(default_factory=lambda: {"en": "en", "ar": "ar", "ku": "ar"})
    base_url: str = "https://graph.facebook.com"
    api_version: Annotated[str, Meta(pattern=r"^v[0-9]+\.[0-9]+$")] = "v21.0"
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0
    accounts: dict[str, AccountSettings] = msgspec.field(default_factory=dict)


def template_message(to: str, template: str, language: str, code: str) -> dict[str, Any]:
    """The authentication template with a copy-code button, as Meta documents it."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.lstrip("+"),
        "type": "template",
        "template": {
            "name": template,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": code}],
                },
            ],
        },
    }


class WhatsAppConnector(Connector):
    kind = "whatsapp"

    def __init__(self, connector_id: str, name: str, config: WhatsAppConfig) -> None:
        super().__init__(connector_id, name)
        self.config = config
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.config.base_url, timeout=self.config.timeout_seconds)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def submit(self, message: Outbound) -> Submitted:
        if message.code is None:
            raise PermanentError("NOT_A_CODE", "the WhatsApp connector sends verification codes only")
        if self._http is None:
            raise TransientError("NOT_STARTED", "the connector is not started")
        own = self.config.accounts.get(message.account_id)
        phone_number_id = own.phone_number_id if own else self.config.phone_number_id
        token = own.token if own else self.config.token
        template = (own.template if own else None) or self.config.template
        language = self.config.languages.get(message.code.locale, "en")
        body = template_message(message.recipient, template, language, message.code.code)
        try:
            response = await self._http.post(
                f"/{self.config.api_version}/{phone_number_id}/messages",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise TransientError("NETWORK", f"WhatsApp could not be reached: {exc!r}") from None
        if response.status_code == 200:
            try:
                return Submitted((str(response.json()["messages"][0]["id"]),))
            except (ValueError, KeyError, IndexError, TypeError):
                raise TransientError("BAD_ANSWER", f"unexpected answer: {response.text[:200]}") from None
        raise _refusal(response)


def _refusal(response: httpx.Response) -> TransientError | PermanentError:
    try:
        error = response.json()["error"]
        code, detail = int(error.get("code", 0)), str(error.get("message", ""))
        if error.get("error_data", {}).get("details"):
            detail += f": {error['error_data']['details']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        code, detail = 0, response.text[:200]
    name = f"WA_{code or response.status_code}"
    if response.status_code == 429 or response.status_code >= 500 or code in THROTTLED:
        return TransientError(name, detail)
    return PermanentError(name, detail)


def _build(connector_id: str, name: str, config: Any, _context: Context) -> Connector:
    return WhatsAppConnector(connector_id, name, config)


register(
    ConnectorKind(
        name="whatsapp",
        channel="whatsapp",
        config_type=WhatsAppConfig,
        factory=_build,
        description="WhatsApp Cloud API: verification codes by authentication template",
        secrets=("token", "app_secret", "verify_token"),
    )
)
