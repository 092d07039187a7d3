"""An upstream in StandingTech's SMS API v3 dialect (seed ``001``): kind ``standingtech``.

Each message is a ``POST {base_url}/api/v3/sms/send`` (``Authorization: Bearer`` the key) with
``recipient`` (international, without ``+``), ``sender_id``, ``type: plain`` and ``message``; the
report's ``uid`` is the carrier id (the provider takes whole messages: one id for all parts). v3 has
no delivery callbacks, so the connector asks: every ``poll_seconds`` it reads the report of each
message it sent that has no final state yet (``GET {base_url}/api/v3/sms/{uid}``), at most
``poll_batch`` a round, and a final word (Delivered, Undelivered, Failed, Rejected, Expired,
Cancelled) becomes a delivery report. What it must ask after is kept by the database, not in
memory: a connector started again (a restart, a changed setting) picks up where it stopped.

Answers: a refused key (401/403) or request (4xx) fails the message; no credit there (402), 429,
5xx and the network are transient (retried, and tried on the route's next connector).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import structlog
from msgspec import Meta

from qasid.channels.base import (
    Connector,
    Context,
    DeliveryReport,
    OpenParts,
    Outbound,
    PermanentError,
    ReportSink,
    Submitted,
    TransientError,
)
from qasid.channels.registry import ConnectorKind, register
from qasid.channels.upstream import HttpUpstream
from qasid.domain.states import MessageStatus

log = structlog.get_logger(__name__)
KIND = "standingtech"
# The provider's final words -> the state they report; any other word (Pending, Sent, Scheduled...)
# means: ask again later.
FINAL_WORDS = {
    "delivered": MessageStatus.DELIVERED,
    "partially delivered": MessageStatus.DELIVERED,  # charged as delivered, as Qasid charges it
    "undelivered": MessageStatus.UNDELIVERED,
    "expired": MessageStatus.EXPIRED,
    "failed": MessageStatus.REJECTED,  # never reached a phone
    "rejected": MessageStatus.REJECTED,
    "cancelled": MessageStatus.REJECTED,
}


class StandingTechConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: Annotated[
        str,
        Meta(pattern=r"^https?://", description="the API's address, e.g. https://sms.standingtech.com"),
    ]
    key: Annotated[str, Meta(min_length=1, description="the API key (Bearer) of Qasid's account there")]
    poll_seconds: Annotated[
        float, Meta(ge=0.05, le=3600, description="how often open messages are asked after")
    ] = 30.0
    poll_batch: Annotated[int, Meta(ge=1, le=1000, description="messages asked after per round")] = 100
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 10.0


class StandingTechConnector(HttpUpstream):
    kind = KIND
    what = "StandingTech"

    def __init__(self, connector_id: str, name: str, config: StandingTechConfig, context: Context) -> None:
        headers = {"Authorization": f"Bearer {config.key}", "Accept": "application/json"}
        super().__init__(connector_id, name, timeout=config.timeout_seconds, headers=headers)
        self.config = config
        if context.open_parts is None:
            raise ValueError(
                "the standingtech connector needs to know its open messages (Context.open_parts)"
            )
        self.open_parts: OpenParts = context.open_parts
        self.reports: ReportSink = context.reports
        self._poller: asyncio.Task[None] | None = None

    @property
    def _base(self) -> str:
        return self.config.base_url.rstrip("/") + "/api/v3/sms"

    async def start(self) -> None:
        await super().start()
        self._poller = asyncio.create_task(self._poll_forever(), name=f"standingtech-poll-{self.name}")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await super().stop()

    async def submit(self, message: Outbound) -> Submitted:
        body = {
            "recipient": message.recipient.removeprefix("+"),
            "sender_id": message.sender,
            "type": "plain",
            "message": message.text,
        }
        answer = await self._call("POST", f"{self._base}/send", json=body)
        data = answer.get("data")
        report = data[0] if isinstance(data, list) and data else data
        if not isinstance(report, dict) or not report.get("uid"):
            raise PermanentError("NO_UID", f"the answer named no message: {str(answer)[:200]}")
        return Submitted((str(report["uid"]),))

    async def _call(self, method: str, url: str, **request: Any) -> dict[str, Any]:
        """``call``, and an answer whose ``status`` is not success is a refusal too."""
        answer = await self.call(method, url, **request)
        if answer.get("status") != "success":
            raise PermanentError("NOT_SUCCESS", str(answer.get("message") or answer)[:200])
        return answer

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception as exc:  # noqa: BLE001 - a round that failed is tried again next time
                log.warning("standingtech poll failed", connector=self.name, error=repr(exc))
            await asyncio.sleep(self.config.poll_seconds)

    async def poll(self) -> int:
        """One round: ask after the oldest open messages; report those that ended. How many did."""
        uids = await self.open_parts.awaiting(self.id, self.config.poll_batch)
        now = datetime.now(UTC)
        answers = await asyncio.gather(*(self._ask(uid, now) for uid in uids))  # a round's asks at once
        reports = [found for found in answers if found is not None]
        if reports:
            await self.reports.deliver(reports)
        return len(reports)

    async def _ask(self, uid: str, now: datetime) -> DeliveryReport | None:
        try:
            answer = await self._call("GET", f"{self._base}/{uid}")
        except TransientError:
            return None  # asked again next round
        except PermanentError as refused:  # the upstream no longer knows it: it will not be delivered
            log.warning(
                "standingtech upstream refused a report", connector=self.name, uid=uid, error=str(refused)
            )
            return DeliveryReport(self.id, uid, MessageStatus.REJECTED, refused.code, refused.detail, now)
        found = answer.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        word = str(data.get("status", "")).strip().lower()
        state = FINAL_WORDS.get(word)
        if state is None:
            return None
        code = None if state == MessageStatus.DELIVERED else str(data.get("error_code") or word.upper())
        return DeliveryReport(self.id, uid, state, code, msgspec.json.encode(data).decode(), now)


def _build(connector_id: str, name: str, config: Any, context: Context) -> Connector:
    return StandingTechConnector(connector_id, name, config, context)


register(
    ConnectorKind(
        name=KIND,
        channel="sms",
        config_type=StandingTechConfig,
        factory=_build,
        description="an upstream HTTP provider in StandingTech's SMS API v3 (or a Qasid's /standingtech)",
        secrets=("key",),
    )
)
