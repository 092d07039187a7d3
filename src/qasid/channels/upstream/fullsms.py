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

import httpx
import msgspec
from msgspec import Meta

from qasid.channels.base import Connector, Context, Outbound, PermanentError, Submitted, TransientError
from qasid.channels.registry import ConnectorKind, register

KIND = "fullsms"
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


class FullSmsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: Annotated[str, Meta(pattern=r"^https?://", description="e.g. https://api.fullsms.com")]
    key: Annotated[str, Meta(min_length=1, description="the API token (Bearer) of Qasid's account there")]
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0


class FullSmsConnector(Connector):
    kind = KIND

    def __init__(self, connector_id: str, name: str, config: FullSmsConfig) -> None:
        super().__init__(connector_id, name)
        self.config = config
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(
            timeout=self.config.timeout_seconds,
            headers={"Authorization": f"Bearer {self.config.key}", "Accept": "application/json"},
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def submit(self, message: Outbound) -> Submitted:
        if self._http is None:
            raise TransientError("NOT_STARTED", "the connector is not started")
        body = {
            "to_numbers": [message.recipient.removeprefix("+")],
            "from": message.sender.removeprefix("+"),
            "message": message.text,
        }
        url = self.config.base_url.rstrip("/") + "/messages/send/to_numbers"
        try:
            response = await self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise TransientError("NETWORK", f"FullSMS could not be reached: {exc!r}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        said = str(answer.get("message") or response.text[:200] or f"HTTP {response.status_code}")
        if response.status_code >= 500 or response.status_code in _TRANSIENT_STATUSES:
            raise TransientError(f"HTTP_{response.status_code}", said)
        if answer.get("reason") == "balance_low":  # no credit there: retried, or the next route
            raise TransientError("BALANCE_LOW", said)
        if response.status_code >= 400:
            raise PermanentError(f"HTTP_{response.status_code}", said)
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
