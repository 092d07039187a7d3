"""An upstream in OTPIQ's dialect (seed ``002``): kind ``otpiq``, for the ``whatsapp`` channel.

OTPIQ sends verification codes, not texts, so the connector carries the channel whose messages are
always codes: a verification's WhatsApp send goes as ``POST {base_url}/sms`` with ``phoneNumber``,
``smsType: verification``, the code as ``verificationCode``, the sender as ``senderId`` and
``provider`` from the configuration (``whatsapp`` by default; ``whatsapp-sms`` lets OTPIQ fall back
on its side). The answer's ``smsId`` is the carrier id.

Delivery reports: with ``callback_url`` (this gateway's public ``/webhooks/otpiq/{connector}``) and
``callback_secret``, each send asks for a ``deliveryReport`` of final states. The seed does not show
OTPIQ's report body; the receiver takes the one a Qasid upstream sends, a ``message.status`` event
signed by the Standard Webhooks scheme with the secret, and matches it by ``verification_id`` (the
``smsId``). A report in another shape gets a 400 and changes nothing; without reports, the message
stays sent until its validity ends (docs/migrating/otpiq.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.upstream import HttpUpstream
from qasid.domain.states import MessageStatus

KIND = "otpiq"
# A Qasid upstream's final message states -> the state they report.
STATUSES = {
    "delivered": MessageStatus.DELIVERED,
    "partially_delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "expired": MessageStatus.EXPIRED,
    "failed": MessageStatus.REJECTED,
    "rejected": MessageStatus.REJECTED,
    "canceled": MessageStatus.REJECTED,
}
Provider = Literal[
    "whatsapp", "whatsapp-sms", "whatsapp-telegram-sms", "sms", "telegram", "telegram-sms", "auto"
]


class OtpiqConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: Annotated[str, Meta(pattern=r"^https?://", description="e.g. https://api.otpiq.com/api")]
    key: Annotated[str, Meta(min_length=1, description="the API key (Bearer) of Qasid's account there")]
    provider: Provider = "whatsapp"
    callback_url: (
        Annotated[str, Meta(pattern=r"^https?://", description="this gateway's public /webhooks/otpiq/NAME")]
        | None
    ) = None
    callback_secret: (
        Annotated[str, Meta(min_length=24, description="signs the reports the upstream sends back")] | None
    ) = None
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0

    def __post_init__(self) -> None:
        if (self.callback_url is None) != (self.callback_secret is None):
            raise ValueError("callback_url and callback_secret go together")


class OtpiqConnector(HttpUpstream):
    kind = KIND
    what = "OTPIQ"

    def __init__(self, connector_id: str, name: str, config: OtpiqConfig) -> None:
        headers = {"Authorization": f"Bearer {config.key}"}
        super().__init__(connector_id, name, timeout=config.timeout_seconds, headers=headers)
        self.config = config

    async def submit(self, message: Outbound) -> Submitted:
        if message.code is None:
            raise PermanentError("NOT_A_CODE", "OTPIQ sends verification codes only")
        body: dict[str, Any] = {
            "phoneNumber": message.recipient.removeprefix("+"),
            "smsType": "verification",
            "verificationCode": message.code.code,
            "senderId": message.sender,
            "provider": self.config.provider,
        }
        if self.config.callback_url and self.config.callback_secret:
            body["deliveryReport"] = {
                "webhookUrl": self.config.callback_url,
                "deliveryReportType": "final",
                "webhookSecret": self.config.callback_secret,
            }
        answer = await self.call("POST", self.config.base_url.rstrip("/") + "/sms", json=body)
        if not answer.get("smsId"):
            raise PermanentError("NO_SMS_ID", f"the answer named no smsId: {str(answer)[:200]}")
        return Submitted((str(answer["smsId"]),))


def _build(connector_id: str, name: str, config: Any, _context: Context) -> Connector:
    return OtpiqConnector(connector_id, name, config)


register(
    ConnectorKind(
        name=KIND,
        channel="whatsapp",
        config_type=OtpiqConfig,
        factory=_build,
        description="an upstream in OTPIQ's dialect (or a Qasid's /otpiq): verification codes",
        secrets=("key", "callback_secret"),
    )
)
