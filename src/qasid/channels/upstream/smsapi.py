"""An upstream in the key/brandID provider's dialect (seed ``003``): kind ``smsapi``.

Each message is a ``POST {base_url}/send`` form with ``key``, ``brandID`` (the message's sender),
``numbers`` (the recipient, international without ``+``) and ``text``. The upstream's ``smsID`` is
the carrier id: the provider takes whole messages, so one id stands for all of a message's parts.
Its delivery callbacks come to ``/webhooks/smsapi/{connector}`` (``qasid.api.webhooks``), set up at
the provider as the account's callback URL with ``callback_key`` as the key; ``statusID`` 1 is
delivered, 2 undelivered, 4 rejected (0, sent, and 3, pending, say nothing new).

Answers: a message the upstream takes comes back in ``messages``; one it refuses in ``invalid`` (a
permanent error with its reason). A refused key (401/403) and anything the upstream says is wrong
with the request (4xx) are permanent; no credit there (402), too many requests (429), its errors
(5xx) and the network are transient, so the message is retried and, when the route has another
connector, tried there.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.upstream import HttpUpstream
from qasid.domain.states import MessageStatus

KIND = "smsapi"
# statusID -> the state it reports (0 and 3 report nothing the submit did not already say).
STATUSES = {
    "1": MessageStatus.DELIVERED,
    "2": MessageStatus.UNDELIVERED,
    "4": MessageStatus.REJECTED,
}


class SmsApiConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: Annotated[
        str,
        Meta(pattern=r"^https?://", description="the provider's API address, e.g. https://host/smsapi"),
    ]
    key: Annotated[str, Meta(min_length=1, description="the API key of Qasid's account there")]
    callback_key: Annotated[
        str, Meta(min_length=8, description="the key the provider sends with its delivery callbacks")
    ]
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0


class SmsApiConnector(HttpUpstream):
    kind = KIND

    def __init__(self, connector_id: str, name: str, config: SmsApiConfig) -> None:
        super().__init__(connector_id, name, timeout=config.timeout_seconds, headers={})
        self.config = config

    async def submit(self, message: Outbound) -> Submitted:
        form = {
            "key": self.config.key,
            "brandID": message.sender,
            "numbers": message.recipient.removeprefix("+"),
            "text": message.text,
        }
        answer = await self.call("POST", self.config.base_url.rstrip("/") + "/send", data=form)
        taken = answer.get("messages") or []
        if taken and isinstance(taken[0], dict) and taken[0].get("smsID"):
            return Submitted((str(taken[0]["smsID"]),))
        refused = (answer.get("invalid") or [{}])[0]
        reason = str(refused.get("reason") or "REFUSED") if isinstance(refused, dict) else "REFUSED"
        raise PermanentError(reason.upper(), str(answer)[:200])


def _build(connector_id: str, name: str, config: Any, _context: Context) -> Connector:
    return SmsApiConnector(connector_id, name, config)


register(
    ConnectorKind(
        name=KIND,
        channel="sms",
        config_type=SmsApiConfig,
        factory=_build,
        description="an upstream HTTP provider in the key/brandID dialect (or another Qasid's /smsapi)",
        secrets=("key", "callback_key"),
    )
)
