"""What the API does with contacts, lists and imports: writes through the group commit, reads in a
thread, uploads stored in chunks for a worker to read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import msgspec
from anyio import to_thread
from sqlalchemy import Connection

from qasid.accounts.records import Caller
from qasid.contacts import service
from qasid.contacts.importer import CHUNK_BYTES, QUEUED
from qasid.contacts.reading import FileFormat
from qasid.contacts.repository import ContactFilter, ContactRepository, ImportRepository
from qasid.contacts.schemas import (
    BadRow,
    BadRows,
    Contact,
    ContactDetail,
    ContactList,
    ContactLists,
    ContactPage,
    CreateListRequest,
    Import,
    NewContactRequest,
    UpdateContactRequest,
    UpdateListRequest,
)
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.domain import ids
from qasid.errors import NotFound, PayloadTooLarge


def _now() -> datetime:
    return datetime.now(UTC)


class Contacts:
    def __init__(self, db: Database, writer: GroupCommitWriter, *, max_import_bytes: int) -> None:
        self.db = db
        self.writer = writer
        self.max_import_bytes = max_import_bytes

    async def create_list(self, caller: Caller, body: CreateListRequest) -> ContactList:
        def write(conn: Connection) -> ContactList:
            row = service.create_list(
                conn, caller.account_id, body.name, _now(), subscribe_word=body.subscribe_word
            )
            return ContactList.of(row, 0)

        return await self.writer.submit(Apply(write))

    async def change_list(self, caller: Caller, list_id: str, body: UpdateListRequest) -> ContactList:
        changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}

        def write(conn: Connection) -> ContactList:
            row = service.change_list(conn, caller.account_id, list_id, _now(), changes)
            return ContactList.of(row, ContactRepository(conn).size(list_id))

        return await self.writer.submit(Apply(write))

    async def delete_list(self, caller: Caller, list_id: str) -> None:
        def write(conn: Connection) -> None:
            service.require_list(conn, caller.account_id, list_id)
            ContactRepository(conn).delete_list(list_id)

        await self.writer.submit(Apply(write))

    async def lists(self, caller: Caller) -> ContactLists:
        def read() -> ContactLists:
            with self.db.read() as conn:
                rows = ContactRepository(conn).lists(caller.account_id)
            return ContactLists(data=[ContactList.of(row, row["size"]) for row in rows])

        return await to_thread.run_sync(read)

    async def get_list(self, caller: Caller, list_id: str) -> ContactList:
        def read() -> ContactList:
            with self.db.read() as conn:
                row = service.require_list(conn, caller.account_id, list_id)
                return ContactList.of(row, ContactRepository(conn).size(list_id))

        return await to_thread.run_sync(read)

    async def add_contact(
        self, caller: Caller, list_id: str | None, body: NewContactRequest
    ) -> ContactDetail:
        wanted = service.NewContact(body.number, body.name, body.fields)

        def write(conn: Connection) -> ContactDetail:
            if list_id is not None:
                service.require_list(conn, caller.account_id, list_id)
            (contact_id,) = service.add_contacts(
                conn, caller.account_id, caller.default_region, [wanted], _now(), list_id=list_id
            )
            return _detail(conn, caller.account_id, contact_id)

        return await self.writer.submit(Apply(write))

    async def remove_from_list(self, caller: Caller, list_id: str, contact_id: str) -> None:
        def write(conn: Connection) -> None:
            service.require_list(conn, caller.account_id, list_id)
            if not ContactRepository(conn).leave(list_id, contact_id):
                raise NotFound(f"contact {contact_id!r} is not in the list")

        await self.writer.submit(Apply(write))

    async def change_contact(
        self, caller: Caller, contact_id: str, body: UpdateContactRequest
    ) -> ContactDetail:
        def write(conn: Connection) -> ContactDetail:
            service.change_contact(
                conn, caller.account_id, contact_id, _now(), name=body.name, fields=body.fields
            )
            return _detail(conn, caller.account_id, contact_id)

        return await self.writer.submit(Apply(write))

    async def delete_contact(self, caller: Caller, contact_id: str) -> None:
        def write(conn: Connection) -> None:
            service.require_contact(conn, caller.account_id, contact_id)
            ContactRepository(conn).delete(contact_id)

        await self.writer.submit(Apply(write))

    async def contact(self, caller: Caller, contact_id: str) -> ContactDetail:
        def read() -> ContactDetail:
            with self.db.read() as conn:
                return _detail(conn, caller.account_id, contact_id)

        return await to_thread.run_sync(read)

    async def contacts(self, caller: Caller, where: ContactFilter, limit: int) -> ContactPage:
        def read() -> ContactPage:
            with self.db.read() as conn:
                if where.list_id is not None:
                    service.require_list(conn, caller.account_id, where.list_id)
                rows = ContactRepository(conn).page(caller.account_id, where, limit + 1)
            data = [Contact.of(row) for row in rows[:limit]]
            return ContactPage(data=data, next_cursor=data[-1].id if len(rows) > limit else None)

        return await to_thread.run_sync(read)

    async def upload(
        self, caller: Caller, list_id: str, file_format: FileFormat, body: AsyncIterator[bytes]
    ) -> Import:
        """Store the file as it comes, in chunks, then queue it for a worker."""
        import_id, now = ids.new_id("imp"), _now()

        def start(conn: Connection) -> None:
            service.require_list(conn, caller.account_id, list_id)
            counts = dict.fromkeys(
                ("size_bytes", "bytes_read", "rows_read", "rows_added", "rows_merged", "rows_bad"), 0
            )
            ImportRepository(conn).insert(
                {"id": import_id, "account_id": caller.account_id, "list_id": list_id,
                 "format": file_format.value, "status": "uploading", **counts, "error": None,
                 "claimed_by": None, "claimed_at": None, "created_at": now, "updated_at": now,
                 "finished_at": None}
            )  # fmt: skip

        await self.writer.submit(Apply(start))
        size, seq = 0, 0
        try:
            async for piece in _pieces(body, CHUNK_BYTES):
                size += len(piece)
                if size > self.max_import_bytes:
                    raise PayloadTooLarge(f"a contact file may hold at most {self.max_import_bytes} bytes")
                await self.writer.submit(Apply(partial(_store, import_id, seq, piece)))
                seq += 1
        except BaseException:
            await self.writer.submit(Apply(partial(_abandon, import_id=import_id)))
            raise

        def queue(conn: Connection) -> Import:
            imports = ImportRepository(conn)
            imports.set(import_id, _now(), status=QUEUED, size_bytes=size)
            conn.info[QUEUED] = True
            found = imports.get(caller.account_id, import_id)
            assert found is not None  # noqa: S101 - written above
            return Import.of(found)

        return await self.writer.submit(Apply(queue))

    async def get_import(self, caller: Caller, import_id: str) -> Import:
        def read() -> Import:
            with self.db.read() as conn:
                found = ImportRepository(conn).get(caller.account_id, import_id)
            if found is None:
                raise NotFound(f"no import {import_id!r}")
            return Import.of(found)

        return await to_thread.run_sync(read)

    async def bad_rows(self, caller: Caller, import_id: str, after: int, limit: int) -> BadRows:
        def read() -> BadRows:
            with self.db.read() as conn:
                imports = ImportRepository(conn)
                if imports.get(caller.account_id, import_id) is None:
                    raise NotFound(f"no import {import_id!r}")
                rows = imports.errors(import_id, after, limit + 1)
            data = [BadRow(line=r["line"], reason=r["reason"], detail=r["detail"]) for r in rows[:limit]]
            return BadRows(data=data, next_after=data[-1].line if len(rows) > limit else None)

        return await to_thread.run_sync(read)


def _detail(conn: Connection, account_id: str, contact_id: str) -> ContactDetail:
    row = service.require_contact(conn, account_id, contact_id)
    base = msgspec.structs.asdict(Contact.of(row))
    return ContactDetail(**base, lists=ContactRepository(conn).lists_of(contact_id))


def _store(import_id: str, seq: int, piece: bytes, conn: Connection) -> None:
    ImportRepository(conn).add_chunk(import_id, seq, piece)


def _abandon(conn: Connection, *, import_id: str) -> None:
    imports = ImportRepository(conn)
    imports.set(import_id, _now(), status="failed", error="the upload did not finish", finished_at=_now())
    imports.drop_chunks(import_id)


async def _pieces(body: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The request body again, in pieces of ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    async for chunk in body:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
