"""The messages service that front doors call: send, cancel, read.

It joins the pure decisions (``prepare``), the cached account catalog (prices and senders), the
group-commit writer (``accept``, ``cancel``) and reads in worker threads (``reading``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from anyio import to_thread

from qasid.accounts.records import Caller
from qasid.billing.records import Channel
from qasid.billing.service import price_list
from qasid.cache import TTLCache
from qasid.db import Database
from qasid.db.writer import GroupCommitWriter
from qasid.errors import QasidError
from qasid.messages.accept import AcceptSend, SendOutcome, replay
from qasid.messages.cancel import CancelMessage
from qasid.messages.prepare import PreparedSend, SendCatalog, prepare_send, request_hash
from qasid.messages.reading import MessageQuery, get_message, list_messages
from qasid.messages.repository import IdempotencyRepository
from qasid.messages.schemas import MessageDetail, MessagePage, SendMessageRequest
from qasid.metrics import ACCEPTED, count
from qasid.senders.service import rules
from qasid.settings import Settings
from qasid.webhooks.service import Callbacks


class MessageService:
    def __init__(
        self,
        db: Database,
        writer: GroupCommitWriter,
        settings: Settings,
        *,
        callbacks: Callbacks,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self.callbacks = callbacks
        self.db = db
        self.writer = writer
        self.settings = settings
        self.on_accepted = on_accepted
        self._catalogs: TTLCache[tuple[str, str], SendCatalog] = TTLCache(settings.cache_seconds)
        self._idempotency_ttl = timedelta(hours=settings.idempotency_hours)

    async def send(
        self,
        caller: Caller,
        request: SendMessageRequest,
        *,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        urgent: bool = False,
    ) -> SendOutcome:
        """Accept a send. ``urgent`` puts its messages before every other due one: for one-time codes
        a dialect sends as texts (the key/brandID provider's ``otp=true``); verifications' are."""
        idempotency = None
        if idempotency_key is not None:
            # A repeat gets the first answer even if the same request would now be refused (a sender
            # since rejected, a schedule time since passed); the writer re-checks atomically.
            idempotency = (idempotency_key, request_hash(request))
            answer = await to_thread.run_sync(self._stored_answer, caller.account_id, *idempotency)
            if isinstance(answer, QasidError):
                raise answer
            if answer is not None:
                return answer
        prepared = await self.prepare(
            caller, request, datetime.now(UTC), idempotency=idempotency, request_id=request_id
        )
        prepared.urgent = urgent
        outcome = await self.writer.submit(AcceptSend(prepared, self._idempotency_ttl))
        if not outcome.replayed:
            count(ACCEPTED, Channel.SMS.value, amount=len(prepared.messages))
            if self.on_accepted is not None and prepared.batch.schedule_at is None:
                self.on_accepted()
        return outcome

    async def prepare(
        self,
        caller: Caller,
        request: SendMessageRequest,
        now: datetime,
        *,
        idempotency: tuple[str, str] | None = None,
        request_id: str | None = None,
        channel: Channel = Channel.SMS,
    ) -> PreparedSend:
        """The rows a send would write, decided from the account's cached prices and senders."""
        catalog = await self._catalog(caller)
        own = request.callback
        callback = None
        if own is not None:
            callback = self.callbacks.make(
                own.url, statuses=own.statuses, secret=own.secret, field="callback"
            )
        return prepare_send(
            caller,
            catalog,
            request,
            self.settings,
            now,
            idempotency=idempotency,
            request_id=request_id,
            channel=channel,
            callback=callback,
        )

    def _stored_answer(self, account_id: str, key: str, digest: str) -> SendOutcome | QasidError | None:
        with self.db.read() as conn:
            stored = IdempotencyRepository(conn).get(account_id, key)
        return replay(stored, digest, datetime.now(UTC), self._idempotency_ttl)

    async def cancel(self, caller: Caller, message_id: str) -> MessageDetail:
        await self.writer.submit(CancelMessage(caller.account_id, message_id, datetime.now(UTC)))
        return await self.get(caller, message_id)

    async def get(self, caller: Caller, message_id: str) -> MessageDetail:
        return await to_thread.run_sync(self._read_one, caller.account_id, message_id)

    async def list(self, caller: Caller, query: MessageQuery) -> MessagePage:
        return await to_thread.run_sync(self._read_page, caller.account_id, query)

    def _read_one(self, account_id: str, message_id: str) -> MessageDetail:
        with self.db.read() as conn:
            return get_message(conn, account_id, message_id)

    def _read_page(self, account_id: str, query: MessageQuery) -> MessagePage:
        with self.db.read() as conn:
            return list_messages(conn, account_id, query)

    async def _catalog(self, caller: Caller) -> SendCatalog:
        key = (caller.account_id, caller.currency)
        return await self._catalogs.get_or_load(key, lambda: to_thread.run_sync(self._load_catalog, caller))

    def _load_catalog(self, caller: Caller) -> SendCatalog:
        with self.db.read() as conn:
            return SendCatalog(
                prices=price_list(conn, caller.account_id, caller.currency),
                senders=rules(conn, caller.account_id),
            )
