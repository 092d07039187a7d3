"""What the API does with inbound messages and an account's opt-out words."""

from __future__ import annotations

from datetime import UTC, datetime

from anyio import to_thread
from sqlalchemy import Connection

from qasid.accounts.records import Caller
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.errors import InvalidRequest, NotFound
from qasid.inbound.keywords import START_WORDS, STOP_WORDS, fold
from qasid.inbound.repository import InboundFilter, InboundRepository
from qasid.inbound.schemas import InboundMessage, InboundPage, KeywordsRequest, KeywordsShown

MAX_WORDS, MAX_WORD_LENGTH = 30, 30


class InboundService:
    def __init__(self, db: Database, writer: GroupCommitWriter) -> None:
        self.db = db
        self.writer = writer

    async def page(self, caller: Caller, where: InboundFilter, limit: int) -> InboundPage:
        def read() -> InboundPage:
            with self.db.read() as conn:
                rows = InboundRepository(conn).page(caller.account_id, where, limit + 1)
            data = [InboundMessage.of(row) for row in rows[:limit]]
            return InboundPage(data=data, next_cursor=data[-1].id if len(rows) > limit else None)

        return await to_thread.run_sync(read)

    async def get(self, caller: Caller, inbound_id: str) -> InboundMessage:
        def read() -> InboundMessage:
            with self.db.read() as conn:
                row = InboundRepository(conn).get(caller.account_id, inbound_id)
            if row is None:
                raise NotFound(f"no inbound message {inbound_id!r}")
            return InboundMessage.of(row)

        return await to_thread.run_sync(read)

    async def keywords(self, caller: Caller) -> KeywordsShown:
        def read() -> KeywordsShown:
            with self.db.read() as conn:
                return shown_keywords(conn, caller.account_id)

        return await to_thread.run_sync(read)

    async def set_keywords(self, caller: Caller, request: KeywordsRequest) -> KeywordsShown:
        def write(conn: Connection) -> KeywordsShown:
            set_keywords(conn, caller.account_id, request.stop, request.start, datetime.now(UTC))
            return shown_keywords(conn, caller.account_id)

        return await self.writer.submit(Apply(write))


def shown_keywords(conn: Connection, account_id: str) -> KeywordsShown:
    stop, start = InboundRepository(conn).keywords([account_id]).get(account_id, (None, None))
    return KeywordsShown(
        stop=list(STOP_WORDS) if stop is None else stop.split(","),
        start=list(START_WORDS) if start is None else start.split(","),
        own_stop=stop is not None,
        own_start=start is not None,
    )


def set_keywords(
    conn: Connection, account_id: str, stop: list[str] | None, start: list[str] | None, now: datetime
) -> None:
    """An account's own words (None: the built-in ones): 1 to 30 words of 1 to 30 characters, no
    spaces or commas, each with a letter or digit; a word may not be both."""
    for field, words in (("stop", stop), ("start", start)):
        if words is not None and (bad := _bad_words(words)):
            raise InvalidRequest(f"invalid {field} words: {bad}", errors=[{"field": field, "message": bad}])
    both = {fold(w) for w in stop or STOP_WORDS} & {fold(w) for w in start or START_WORDS}
    if both:
        raise InvalidRequest(
            f"a word cannot both stop and start: {', '.join(sorted(both))}",
            errors=[{"field": "start", "message": "shares words with stop"}],
        )
    InboundRepository(conn).set_keywords(
        account_id, ",".join(stop) if stop else None, ",".join(start) if start else None, now
    )


def _bad_words(words: list[str]) -> str | None:
    if not 1 <= len(words) <= MAX_WORDS:
        return f"give 1 to {MAX_WORDS} words"
    for word in words:
        if not 1 <= len(word) <= MAX_WORD_LENGTH or any(c.isspace() or c == "," for c in word):
            return f"{word!r}: 1 to {MAX_WORD_LENGTH} characters, no spaces or commas"
        if not fold(word):
            return f"{word!r} has no letter or digit"
    return None
