"""Use cases about the stop-list and the block-list: screening sends, and keeping the lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from anyio import to_thread
from sqlalchemy import Connection, RowMapping

from qasid.accounts.records import Caller
from qasid.db import Database
from qasid.db.bulk import Query
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.domain.phone import normalize_e164
from qasid.errors import InvalidRequest, NotFound
from qasid.messages.schemas import InvalidRecipient
from qasid.optout.records import OPERATOR, REASONS, ListKind, Source
from qasid.optout.repository import ListRepository
from qasid.optout.schemas import AddNumberRequest, ListedNumber, ListPage

Wanted = tuple[str, str, bool]  # (account_id, E.164 number, whether the stop-list applies)


def refusals(conn: Connection, wanted: Sequence[Wanted]) -> dict[tuple[str, str], ListKind]:
    """Which of these (account, number) pairs may not be sent to, and why: the operator's or the
    account's block-list always, the account's stop-list unless the send skips it."""
    return refusals_query(conn, wanted).run(conn)


def refusals_query(conn: Connection, wanted: Sequence[Wanted]) -> Query[dict[tuple[str, str], ListKind]]:
    """``refusals`` as a query, to send with other reads (``qasid.db.bulk.fetch``)."""
    if not wanted:
        return Query.known({})
    return (
        ListRepository(conn)
        .entries_query([number for _, number, _ in wanted])
        .then(lambda entries: _refused(wanted, entries))
    )


def _refused(
    wanted: Sequence[Wanted], entries: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str], ListKind]:
    if not entries:
        return {}
    lists: dict[tuple[str, str], set[str]] = {}
    for scope, number, kind in entries:
        lists.setdefault((scope, number), set()).add(kind)
    found: dict[tuple[str, str], ListKind] = {}
    for account_id, number, stop_applies in wanted:
        own = lists.get((account_id, number), set())
        if ListKind.BLOCK in own or ListKind.BLOCK in lists.get((OPERATOR, number), set()):
            found[(account_id, number)] = ListKind.BLOCK
        elif stop_applies and ListKind.STOP in own:
            found[(account_id, number)] = ListKind.STOP
    return found


def refused_recipient(number: str, kind: ListKind) -> InvalidRecipient:
    """How a recipient on a list is named among a send's invalid ones."""
    reason, detail = REASONS[kind]
    return InvalidRecipient(to=number, reason=reason, detail=detail)


def canonical(number: str, region: str | None) -> str:
    """A number for the lists: E.164, or InvalidRequest."""
    found = normalize_e164(number, region)
    if found is None:
        message = "not a valid number (E.164" + (", or national in the account's region)" if region else ")")
        raise InvalidRequest(f"invalid number {number!r}", errors=[{"field": "number", "message": message}])
    return found


def add(
    conn: Connection, scope: str, number: str, kind: ListKind, now: datetime, *, source: str, note: str | None
) -> bool:
    """``number`` (E.164) onto a list; False when it was there already."""
    if scope == OPERATOR and kind != ListKind.BLOCK:
        raise InvalidRequest("the operator keeps a block-list only")
    return ListRepository(conn).add(scope, number, kind, source=source, note=note, now=now)


def remove(conn: Connection, scope: str, number: str, kind: ListKind) -> None:
    if not ListRepository(conn).remove(scope, number, kind):
        raise NotFound(f"{number} is not on the {kind.value} list")


def page(conn: Connection, scope: str, kind: ListKind, after: str | None, limit: int) -> list[RowMapping]:
    return ListRepository(conn).page(scope, kind, after, limit)


class ListService:
    """What the API does with an account's stop-list or block-list."""

    def __init__(self, db: Database, writer: GroupCommitWriter, kind: ListKind) -> None:
        self.db = db
        self.writer = writer
        self.kind = kind

    async def page(self, caller: Caller, after: str | None, limit: int) -> ListPage:
        def read() -> ListPage:
            with self.db.read() as conn:
                rows = page(conn, caller.account_id, self.kind, after, limit + 1)
            data = [ListedNumber.of(row) for row in rows[:limit]]
            return ListPage(data=data, next_cursor=data[-1].number if len(rows) > limit else None)

        return await to_thread.run_sync(read)

    async def add(self, caller: Caller, request: AddNumberRequest) -> ListedNumber:
        number = canonical(request.number, caller.default_region)

        def write(conn: Connection) -> ListedNumber:
            add(
                conn,
                caller.account_id,
                number,
                self.kind,
                datetime.now(UTC),
                source=Source.API,
                note=request.note,
            )
            found = ListRepository(conn).get(caller.account_id, number, self.kind)
            assert found is not None  # noqa: S101 - written just now, or there already
            return ListedNumber.of(found)

        return await self.writer.submit(Apply(write))

    async def remove(self, caller: Caller, number: str) -> None:
        found = canonical(number, caller.default_region)
        await self.writer.submit(Apply(lambda conn: remove(conn, caller.account_id, found, self.kind)))
