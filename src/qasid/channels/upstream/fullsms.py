"""An upstream in FullSMS's dialect (seed ``004``): kind ``fullsms``.

Each message is a ``POST {base_url}/messages/send/to_numbers`` (``Authorization: Bearer`` the key)
with the number (international, without ``+``) in ``to_numbers``, the sender as ``from`` and the
text as ``message``; the answer's ``campaign_id`` is the carrier id. A number FullSMS counts
``invalid`` fails the message.

FullSMS documents no delivery reports and no way to read a message's state back, so a message sent
this way stays ``sent`` until its validity (and the report grace) ends, and then ``expired``, which
is charged, as any message that left (docs/migrating/fullsms.md). Route through it what may go
without a report.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted, TransientError
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.upstream import HttpUpstream

KIND = "fullsms"


class FullSmsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: Annotated[str, Meta(pattern=r"^https?://", description="e.g. https://api.fullsms.com")]
    key: Annotated[str, Meta(min_length=1, description="the API token (Bearer) of Qasid's account there")]
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0


class FullSmsConnector(HttpUpstream):
    kind = KIND
    what = "FullSMS"

    def __init__(self, connector_id: str, name: str, config: FullSmsConfig) -> None:
        headers = {"Authorization": f"Bearer {config.key}", "Accept": "application/json"}
        super().__init__(connector_id, name, timeout=config.timeout_seconds, headers=headers)
        self.config = config

    async def submit(self, message: Outbound) -> Submitted:
        body = {
            "to_numbers": [message.recipient.removeprefix("+")],
            "from": message.sender.removeprefix("+"),
            "message": message.text,
        }
        url = self.config.base_url.rstrip("/") + "/messages/send/to_numbers"
        try:
            answer = await self.call("POST", url, json=body)
        except PermanentError as refused:
            if "balance" in refused.detail.lower():  # FullSMS's 422 balance_low: no credit there
                raise TransientError("BALANCE_LOW", refused.detail) from None
            raise
        if not answer.get("total_sent") or not answer.get("campaign_id"):
            raise PermanentError("INVALID", f"FullSMS did not take the number: {str(answer)[:200]}")
        return Submitted((str(answer["campaign_id"]),))


def _build(connector_id: str, name: str, config: Any, _context: Context) -> Connector:
    return FullSmsConnector(connector_id, name, config)


register(
    ConnectorKind(
        name=KIND,
        channel="sms",
        config_type=FullSmsConfig,
        factory=_build,
        description="an upstream in FullSMS's dialect (or a Qasid's /fullsms); no delivery reports",
        secrets=("key",),
    )
)
