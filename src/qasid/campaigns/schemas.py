"""Request and response shapes of ``/v1/campaigns``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from qasid.templates.schemas import Params

Clock = Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])]


class QuietHoursRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Nothing is sent to a recipient between ``start`` and ``end`` of their own day (their number's
    time zone); what falls inside waits until ``end``."""

    start: Clock
    end: Clock


class CreateCampaignRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """One text (or template) to lists and numbers."""

    name: Annotated[str, Meta(min_length=1, max_length=100)]
    sender: Annotated[
        str, Meta(min_length=1, max_length=20, description="an approved sender ID of the account")
    ]
    text: Annotated[str, Meta(min_length=1, max_length=10_000)] | None = None
    template_id: Annotated[str, Meta(description="instead of text: filled per contact")] | None = None
    params: Params | None = None
    lists: Annotated[list[str], Meta(max_length=50, description="contact list ids")] = msgspec.field(
        default_factory=list
    )
    numbers: Annotated[list[Annotated[str, Meta(max_length=32)]], Meta(max_length=10_000)] = msgspec.field(
        default_factory=list
    )
    start_at: Annotated[datetime, Meta(tz=True, description="default: now")] | None = None
    rate_per_minute: (
        Annotated[int, Meta(ge=1, le=1_000_000, description="messages per minute at most")] | None
    ) = None
    quiet_hours: QuietHoursRequest | None = None
    stop_list: Annotated[
        bool, Meta(description="false sends to numbers that opted out too; the block-list always holds")
    ] = True


class StatusCount(Struct, kw_only=True):
    messages: int
    cost: Annotated[int, Meta(description="minor units reserved")]


class Campaign(Struct, kw_only=True):
    id: str
    name: str
    sender: str
    status: Annotated[str, Meta(description="scheduled, running, paused, canceled or done")]
    text: str
    template_id: str | None
    lists: list[str]
    numbers: int
    start_at: datetime
    rate_per_minute: int | None
    quiet_hours: QuietHoursRequest | None
    recipients: Annotated[
        int, Meta(description="counted when it was made: its lists' contacts and its numbers")
    ]
    estimated_cost: Annotated[int, Meta(description="checked against the credit when it was made")]
    queued: Annotated[int, Meta(description="messages made so far")]
    cost: Annotated[int, Meta(description="what they reserved")]
    skipped_stopped: Annotated[int, Meta(description="recipients who opted out")]
    skipped_blocked: int
    skipped_invalid: Annotated[
        int, Meta(description="no price, not a mobile, or the sender not approved there")
    ]
    progress: Annotated[float, Meta(description="share of the recipients handled, 0 to 1")]
    error: Annotated[str | None, Meta(description="why it paused by itself (the money ran out, say)")]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Campaign:
        handled = row["queued"] + row["skipped_stopped"] + row["skipped_blocked"] + row["skipped_invalid"]
        share = (
            1.0
            if row["status"] == "done"
            else min(handled / row["recipients"], 1.0)
            if row["recipients"]
            else 0.0
        )
        quiet = None
        if row["quiet_start"] is not None:
            quiet = QuietHoursRequest(start=row["quiet_start"], end=row["quiet_end"])
        return cls(
            id=row["id"], name=row["name"], sender=row["sender"], status=row["status"], text=row["body"],
            template_id=row["template_id"], lists=msgspec.json.decode(row["lists"]),
            numbers=len(msgspec.json.decode(row["numbers"])), start_at=row["start_at"],
            rate_per_minute=row["rate_per_minute"], quiet_hours=quiet, recipients=row["recipients"],
            estimated_cost=row["estimated_cost"], queued=row["queued"], cost=row["cost"],
            skipped_stopped=row["skipped_stopped"], skipped_blocked=row["skipped_blocked"],
            skipped_invalid=row["skipped_invalid"],
            progress=share,
            error=row["error"], created_at=row["created_at"], updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )  # fmt: skip


class CampaignDetail(Campaign, kw_only=True):
    by_status: Annotated[dict[str, StatusCount], Meta(description="its messages by state, and their cost")]


class CampaignPage(Struct, kw_only=True):
    data: list[Campaign]
    next_cursor: str | None
