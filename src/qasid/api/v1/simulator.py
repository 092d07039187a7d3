"""``/v1/simulator/messages``: what the carrier simulator "delivered" for the caller, to read the
texts and codes that would have reached the phones."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from anyio import to_thread
from litestar import Request, get
from litestar.params import QueryParameter
from msgspec import Struct

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses
from qasid.channels.simulator.store import inbox
from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest


class SimulatedMessage(Struct, kw_only=True):
    message_id: str
    to: str
    sender: str
    text: str
    part: int
    parts: int
    carrier_id: str
    outcome: str
    received_at: datetime


@get("/simulator/messages", tags=["simulator"], responses=problem_responses(401, 403, 422))
async def simulator_messages(
    request: Request[Any, Any, Any],
    *,
    to: Annotated[str | None, QueryParameter(description="only this recipient, E.164 or national")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
) -> list[SimulatedMessage]:
    """The caller's messages as the simulated phones got them, newest first; a message sent twice
    appears twice."""
    caller = await authenticated(request)
    recipient = normalize_e164(to, caller.default_region) if to is not None else None
    if to is not None and recipient is None:
        raise InvalidRequest(
            f"to: {to!r} is not a phone number", errors=[{"field": "to", "message": "invalid"}]
        )
    db = services(request).db

    def read() -> list[SimulatedMessage]:
        with db.read() as conn:
            rows = inbox(conn, account_id=caller.account_id, recipient=recipient, limit=limit)
        return [
            SimulatedMessage(
                message_id=r.message_id, to=r.recipient, sender=r.sender, text=r.body, part=r.part,
                parts=r.parts, carrier_id=r.carrier_id, outcome=r.outcome, received_at=r.received_at,
            )
            for r in rows
        ]  # fmt: skip

    return await to_thread.run_sync(read)


handlers = [simulator_messages]
