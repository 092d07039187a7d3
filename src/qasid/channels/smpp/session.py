"""One SMPP 3.4 session (a bind) seen from the ESME side, on asyncio.

``Session.open`` connects (TCP, or TLS), binds and starts two tasks: the reader, which matches
responses to requests by sequence number and answers what the SMSC asks (``enquire_link``,
``unbind``, ``deliver_sm`` and ``data_sm`` through the ``on_requests`` callback, anything else with
``generic_nack``), and the keep-alive, which sends ``enquire_link`` every ``enquire_link_seconds``
and ends the session when the SMSC stops answering.

``request`` sends a PDU and waits for its response. At most ``window`` requests are outstanding; at
most ``tps`` are sent per second; and after the SMSC answers ``ESME_RTHROTTLED`` or
``ESME_RMSGQFUL`` sending pauses for ``throttle_pause`` seconds. A response is returned whatever
its command_status: what a status means is the caller's business. The session only fails a
request (``LinkError``) when it cannot know the outcome: the link dropped, or no response came
within ``response_timeout``.

When the link is lost, every outstanding request fails with ``LinkError`` and ``lost`` is set; a
session is not reopened (the connector makes a new one). ``close`` unbinds politely first.

What the SMSC sends is acknowledged only after ``on_requests`` returned: a delivery receipt is
durably recorded before the SMSC may forget it. Its answer is the command_status to reply with, one
per PDU (``ESME_RX_T_APPN`` asks the SMSC to try again later, for instance while the database is
away). The PDUs are handed over in batches: whatever arrived while the previous batch was being
recorded, in order, so a busy SMSC's receipts cost one handler call (and one write) per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from qasid.channels.smpp import pdu as P

log = structlog.get_logger(__name__)

RequestHandler = Callable[[list[P.Pdu]], Awaitable[list[int]]]  # a command_status per PDU
_BUFFER_HIGH = 256 * 1024  # wait for the socket to drain beyond this many unsent octets
SLOW_DOWN = frozenset({P.Status.ESME_RTHROTTLED, P.Status.ESME_RMSGQFUL})  # answers that pause sending


class LinkError(Exception):
    """The outcome of a request cannot be known (the link dropped or went silent)."""


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {P.status_name(status)}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: ssl.SSLContext | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    window: int = 10
    tps: float = 0.0  # 0: no cap
    enquire_link_seconds: float = 30.0
    response_timeout: float = 10.0
    connect_timeout: float = 10.0
    throttle_pause: float = 1.0


@dataclass(slots=True)
class _Pacer:
    """Spaces sends at least ``1/tps`` apart, measured from when each actually left (a sleeper woken
    late must not let the next one follow it closely), and honours pauses after throttling."""

    tps: float
    next_at: float = 0.0
    paused_until: float = 0.0
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait(self) -> None:
        if not self.tps and time.monotonic() >= self.paused_until:
            return
        async with self._turn:
            delay = max(self.next_at, self.paused_until) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.tps:
                self.next_at = time.monotonic() + 1 / self.tps


@dataclass(slots=True)
class _Pending:
    """A request waiting for its response."""

    future: asyncio.Future[P.Pdu]
    sent_at: float
    command_id: int


@dataclass(slots=True)
class Session:
    endpoint: Endpoint
    bind: P.Bind
    timing: Timing = field(default_factory=Timing)
    on_requests: RequestHandler | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    system_id: str = ""  # the SMSC's, from its bind response
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _pending: dict[int, _Pending] = field(default_factory=dict)  # by sequence number
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _window: asyncio.Semaphore = field(init=False)
    _pacer: _Pacer = field(init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _inbox: list[P.Pdu] = field(default_factory=list)  # deliver_sm and data_sm not yet handed over
    _draining: asyncio.Task[None] | None = None
    _closing: bool = False
    _out: list[bytes] = field(default_factory=list)  # PDUs sent this turn of the loop, not yet written

    def __post_init__(self) -> None:
        self._window = asyncio.Semaphore(self.timing.window)
        self._pacer = _Pacer(self.timing.tps)

    @property
    def bound(self) -> bool:
        return self._writer is not None and not self.lost.is_set()

    async def open(self) -> None:
        """Connect and bind; raises ``BindRefused``, ``LinkError`` or ``OSError``."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.endpoint.host, self.endpoint.port, ssl=self.endpoint.tls),
                self.timing.connect_timeout,
            )
        except TimeoutError:
            raise LinkError(f"no connection to {self.endpoint.host}:{self.endpoint.port}") from None
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="smpp-reader"),
            asyncio.create_task(self._expire_forever(), name="smpp-timeouts"),
        ]
        try:
            response = await self._exchange(self.bind)
        except LinkError:
            await self._drop()
            raise
        if response.status != P.Status.ESME_ROK:
            await self._drop()
            raise BindRefused(response.status)
        self.system_id = getattr(response, "system_id", "")
        self._tasks.append(asyncio.create_task(self._keep_alive(), name="smpp-keepalive"))

    async def request(self, pdu: P.Pdu) -> P.Pdu:
        """Send ``pdu`` within the window and the rate; its response, whatever its status."""
        async with self._window:
            await self._pacer.wait()
            response = await self._exchange(pdu)
        if response.status in SLOW_DOWN:
            self._pacer.paused_until = time.monotonic() + self.timing.throttle_pause
        return response

    async def close(self, grace: float = 2.0) -> None:
        """Unbind (waiting up to ``grace`` seconds for the answer) and drop the link."""
        if self.bound:
            self._closing = True
            with contextlib.suppress(LinkError, TimeoutError, OSError):
                await asyncio.wait_for(self._exchange(P.Empty(command_id=P.Command.UNBIND)), grace)
        await self._drop()

    async def _exchange(self, pdu: P.Pdu) -> P.Pdu:
        if self._writer is None or self.lost.is_set():
            raise LinkError("the link is down")
        pdu.sequence = self._next_sequence()
        future: asyncio.Future[P.Pdu] = asyncio.get_running_loop().create_future()
        self._pending[pdu.sequence] = _Pending(future, time.monotonic(), pdu.command_id)
        try:
            await self._send(pdu)
            return await future  # or LinkError: the link dropped, or _expire_forever gave up on it
        finally:
            self._pending.pop(pdu.sequence, None)

    async def _expire_forever(self) -> None:
        """Fail requests that had no response within ``response_timeout`` (checked a few times per
        timeout: one sweep for all, cheaper than a timer per request)."""
        timeout = self.timing.response_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            cutoff = time.monotonic() - timeout
            for pending in list(self._pending.values()):
                if pending.sent_at < cutoff and not pending.future.done():
                    error = LinkError(f"no response to {_name(pending.command_id)} in {timeout} s")
                    pending.future.set_exception(error)

    def _next_sequence(self) -> int:
        value = next(self._sequence)
        if value > 0x7FFF_FFFF:  # SMPP 3.4 §5.1.4: 0x00000001 to 0x7FFFFFFF
            self._sequence = itertools.count(2)
            value = 1
        return value

    async def _send(self, pdu: P.Pdu) -> None:
        """Queue ``pdu`` for the end of this turn of the event loop, when every PDU sent in the turn
        (a window's submit_sm, a batch's deliver_sm_resp) goes out in one write: one system call
        and, mostly, one segment for them all, where a write each cost one of each."""
        writer = self._writer
        if writer is None or self.lost.is_set():
            raise LinkError("the link is down")
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(P.encode(pdu))
        if writer.transport.get_write_buffer_size() > _BUFFER_HIGH:
            self._flush()
            try:
                await writer.drain()
            except OSError as exc:
                raise LinkError(f"writing failed: {exc!r}") from exc

    def _flush(self) -> None:
        """Write what ``_send`` queued; if the link is gone meanwhile, its requests fail by
        ``_lose`` and what the SMSC sent comes again, unanswered."""
        if not self._out:
            return
        frames, self._out = self._out, []
        if self._writer is not None and not self.lost.is_set():
            self._writer.write(b"".join(frames))

    async def _read_forever(self) -> None:
        assert self._reader is not None  # noqa: S101 - started by open()
        try:
            while True:
                head = await self._reader.readexactly(4)
                rest = await self._reader.readexactly(P.frame_length(head) - 4)
                await self._take(head + rest)
        except (asyncio.IncompleteReadError, OSError) as exc:
            if not self._closing:
                log.warning("smpp link lost", system_id=self.bind.system_id, error=repr(exc))
        except P.PduError as exc:  # a length no PDU can have: the stream cannot be followed
            log.error("smpp stream unreadable; dropping the link", error=exc.detail)
        finally:
            self._lose()

    async def _take(self, frame: bytes) -> None:
        try:
            pdu = P.decode(frame)
        except P.PduError as exc:
            log.warning("smpp pdu refused", command=_name(exc.command_id), error=exc.detail)
            if not exc.command_id & P.RESPONSE:
                await self._send(
                    P.Empty(command_id=P.Command.GENERIC_NACK, status=exc.status, sequence=exc.sequence)
                )
            return
        if pdu.is_response:
            self._resolve(pdu)
        else:
            await self._answer(pdu)

    def _resolve(self, pdu: P.Pdu) -> None:
        pending = self._pending.get(pdu.sequence)
        if pending is not None and not pending.future.done():
            pending.future.set_result(pdu)
        elif pdu.command_id != P.Command.GENERIC_NACK:
            log.warning("smpp response to no request", command=_name(pdu.command_id), sequence=pdu.sequence)

    async def _answer(self, pdu: P.Pdu) -> None:
        command = pdu.command_id
        if command == P.Command.ENQUIRE_LINK:
            await self._send(P.Empty(command_id=P.Command.ENQUIRE_LINK_RESP, sequence=pdu.sequence))
        elif command == P.Command.UNBIND:
            await self._send(P.Empty(command_id=P.Command.UNBIND_RESP, sequence=pdu.sequence))
            self._closing = True
            await self._drop()
        elif command in (P.Command.DELIVER_SM, P.Command.DATA_SM):
            self._inbox.append(pdu)
            if self._draining is None or self._draining.done():
                self._draining = asyncio.create_task(self._drain())
        elif command != P.Command.ALERT_NOTIFICATION:  # which has no response
            await self._send(
                P.Empty(
                    command_id=P.Command.GENERIC_NACK, status=P.Status.ESME_RINVCMDID, sequence=pdu.sequence
                )
            )

    async def _drain(self) -> None:
        while self._inbox:
            batch, self._inbox = self._inbox, []
            statuses = await self._statuses(batch)
            for pdu, status in zip(batch, statuses, strict=True):
                response = P.MessageIdResp(
                    command_id=pdu.command_id | P.RESPONSE, status=status, sequence=pdu.sequence
                )
                with contextlib.suppress(LinkError):  # unanswered, the SMSC sends it again
                    await self._send(response)

    async def _statuses(self, batch: list[P.Pdu]) -> list[int]:
        """The handler's answer for each PDU; "try again later" for all if there is no handler, it
        fails, or it miscounts."""
        if self.on_requests is not None:
            try:
                statuses = await self.on_requests(batch)
            except Exception:
                log.exception("handling what the smsc sent failed", pdus=len(batch))
            else:
                if len(statuses) == len(batch):
                    return statuses
                log.error("the smsc request handler miscounted", answered=len(statuses), pdus=len(batch))
        return [P.Status.ESME_RX_T_APPN] * len(batch)

    async def _keep_alive(self) -> None:
        while not self.lost.is_set():
            await asyncio.sleep(self.timing.enquire_link_seconds)
            try:
                await self._exchange(P.Empty(command_id=P.Command.ENQUIRE_LINK))
            except LinkError as exc:
                log.warning("smpp link silent; dropping it", error=str(exc))
                await self._drop()
                return

    def _lose(self) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(LinkError("the link dropped before the response came"))
        if self._writer is not None:
            self._writer.close()

    async def _drop(self) -> None:
        self._flush()  # an unbind_resp, say, goes out before the link closes
        self._lose()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        if self._writer is not None:
            with contextlib.suppress(OSError, ssl.SSLError):
                await self._writer.wait_closed()


def _name(command_id: int) -> str:
    try:
        return P.Command(command_id).name.lower()
    except ValueError:
        return f"0x{command_id:08X}"
