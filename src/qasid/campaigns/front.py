"""What the API does with campaigns: writes through the group commit, reads in a thread, the report
streamed as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
from anyio import to_thread
from sqlalchemy import Connection

from qasid.accounts.records import Caller
from qasid.campaigns import service
from qasid.campaigns.repository import CampaignRepository
from qasid.campaigns.schemas import Campaign, CampaignDetail, CampaignPage, CreateCampaignRequest, StatusCount
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.errors import NotFound
from qasid.settings import Settings

QUEUED = "qasid.campaigns.made"  # set in conn.info when a campaign is made or resumed: wakes the runners


def _now() -> datetime:
    return datetime.now(UTC)


class Campaigns:
    def __init__(self, db: Database, writer: GroupCommitWriter, settings: Settings) -> None:
        self.db = db
        self.writer = writer
        self.settings = settings

    async def create(self, caller: Caller, body: CreateCampaignRequest) -> CampaignDetail:
        def write(conn: Connection) -> str:
            campaign_id = service.create(conn, caller, body, self.settings, _now())
            conn.info[QUEUED] = True
            return campaign_id

        return await self.get(caller, await self.writer.submit(Apply(write)))

    async def act(self, caller: Caller, campaign_id: str, action: str) -> CampaignDetail:
        """pause, resume or cancel."""

        def write(conn: Connection) -> None:
            getattr(service, action)(conn, caller.account_id, campaign_id, _now())
            conn.info[QUEUED] = True

        await self.writer.submit(Apply(write))
        return await self.get(caller, campaign_id)

    async def get(self, caller: Caller, campaign_id: str) -> CampaignDetail:
        def read() -> CampaignDetail:
            with self.db.read() as conn:
                repo = CampaignRepository(conn)
                row = repo.get(caller.account_id, campaign_id)
                if row is None:
                    raise NotFound(f"no campaign {campaign_id!r}")
                counts = repo.by_status(campaign_id)
            by_status = {
                status: StatusCount(messages=n, cost=cost) for status, (n, cost) in sorted(counts.items())
            }
            return CampaignDetail(**msgspec.structs.asdict(Campaign.of(row)), by_status=by_status)

        return await to_thread.run_sync(read)

    async def page(self, caller: Caller, cursor: str | None, limit: int) -> CampaignPage:
        def read() -> CampaignPage:
            with self.db.read() as conn:
                rows = CampaignRepository(conn).page(caller.account_id, cursor, limit + 1)
            data = [Campaign.of(row) for row in rows[:limit]]
            return CampaignPage(data=data, next_cursor=data[-1].id if len(rows) > limit else None)

        return await to_thread.run_sync(read)

    async def report(self, caller: Caller, campaign_id: str) -> AsyncIterator[bytes]:
        """Every message of the campaign as CSV rows, read a chunk at a time."""

        def exists() -> None:
            with self.db.read() as conn:
                if CampaignRepository(conn).get(caller.account_id, campaign_id) is None:
                    raise NotFound(f"no campaign {campaign_id!r}")

        await to_thread.run_sync(exists)
        return _csv(self.db, campaign_id)


async def _csv(db: Database, campaign_id: str) -> AsyncIterator[bytes]:
    yield _line(["message_id", "to", "status", "error_code", "price", "updated_at"])
    after = ""
    while True:

        def read(after: str = after) -> list[list[str]]:
            with db.read() as conn:
                rows = next(CampaignRepository(conn).export(campaign_id, after=after), [])
            return [[r["id"], r["recipient"], r["status"], r["error_code"] or "", str(r["price"]),
                     r["updated_at"].isoformat()] for r in rows]  # fmt: skip

        rows = await to_thread.run_sync(read)
        if not rows:
            return
        yield b"".join(_line(row) for row in rows)
        after = rows[-1][0]


def _line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue().encode()
