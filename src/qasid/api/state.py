"""What one running API process holds: the database, the writer and the services built on them."""

from __future__ import annotations

from dataclasses import dataclass

from qasid.accounts.authenticator import Authenticator
from qasid.db import Database
from qasid.db.writer import GroupCommitWriter
from qasid.messages.service import MessageService
from qasid.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    writer: GroupCommitWriter
    authenticator: Authenticator
    messages: MessageService

    @classmethod
    def start(cls, settings: Settings) -> Services:
        """Build the services; call on the event loop that will serve requests."""
        db = Database.from_settings(settings)
        writer = GroupCommitWriter(db, max_batch=settings.writer_max_batch, max_rows=settings.writer_max_rows)
        writer.start()
        return cls(
            settings=settings,
            db=db,
            writer=writer,
            authenticator=Authenticator(db, settings.cache_seconds),
            messages=MessageService(db, writer, settings),
        )

    async def stop(self) -> None:
        await self.writer.stop()
        self.db.dispose()
