"""A test SMSC of our own, for what is hard to script in node-smpp: dropped links, throttling,
slow or missing responses, hex and decimal ids, receipts early, late, twice or per part.

It speaks through Qasid's codec (``qasid.channels.smpp.pdu``); node-smpp (``tests/smsc/node``) is the
independent peer that keeps the codec honest. Everything it receives is kept for the test to read.

    async with ScriptedSmsc() as smsc:
        smsc.answer = lambda submit: P.Status.ESME_RTHROTTLED   # how to answer each submit_sm
        ... connect to smsc.port ...
        await smsc.wait_for(lambda: len(smsc.submits) == 3)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qasid.channels.smpp import pdu as P

BIND_COMMANDS = (P.Command.BIND_TRANSMITTER, P.Command.BIND_RECEIVER, P.Command.BIND_TRANSCEIVER)


@dataclass
class Peer:
    """One ESME connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    bound_as: int | None = None
    system_id: str = ""
    outstanding: int = 0  # submit_sm received and not yet answered


@dataclass
class Received:
    pdu: P.Pdu
    peer: Peer
    at: float = field(default_factory=time.monotonic)


class ScriptedSmsc:
    def __init__(
        self,
        *,
        system_id: str = "qasid",
        password: str = "secret",  # noqa: S107 - a test SMSC's account
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.system_id = system_id
        self.tls = tls
        self.password = password
        self.port = 0
        self.peers: list[Peer] = []
        self.received: list[Received] = []  # every request, in order
        self.responses: list[P.Pdu] = []  # every response the ESME sent us
        self.answer: Callable[[P.ShortMessage], int] = lambda _: P.Status.ESME_ROK
        self.message_id: Callable[[int], str] = lambda n: f"{n:x}"  # the id of the n-th accepted submit
        self.response_delay = 0.0
        self.silent = False  # stop answering anything (a link that went quiet)
        self.drop_after_bind = False  # accept each bind, then close the connection at once
        self.max_outstanding = 0
        self.issued: list[str] = []  # the message ids given, in the order given
        self._ids = itertools.count(0x1000)
        self._sequence = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ScriptedSmsc:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.drop()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # What the test reads

    def requests(self, command: int) -> list[P.Pdu]:
        return [r.pdu for r in self.received if r.pdu.command_id == command]

    @property
    def submits(self) -> list[P.ShortMessage]:
        return [p for p in self.requests(P.Command.SUBMIT_SM) if isinstance(p, P.ShortMessage)]

    async def wait_for(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    # What the test makes it do

    async def send(self, pdu: P.Pdu, peer: Peer | None = None) -> None:
        """Send a request to ``peer`` (default: the last that bound to receive)."""
        target = peer or self._receiver()
        pdu.sequence = next(self._sequence)
        target.writer.write(P.encode(pdu))
        await target.writer.drain()

    async def send_raw(self, frame: bytes, peer: Peer | None = None) -> None:
        target = peer or self._receiver()
        target.writer.write(frame)
        await target.writer.drain()

    async def receipt(self, message_id: str, stat: str = "DELIVRD", err: str = "000", *, tlvs: bool = True,
                      text_id: str | None = None, peer: Peer | None = None) -> None:  # fmt: skip
        """A delivery receipt in the Appendix B text (with ``text_id`` in it, if given) and, with
        ``tlvs``, the receipted_message_id and message_state TLVs."""
        state = {
            "ENROUTE": 1,
            "DELIVRD": 2,
            "EXPIRED": 3,
            "DELETED": 4,
            "UNDELIV": 5,
            "ACCEPTD": 6,
            "UNKNOWN": 7,
            "REJECTD": 8,
        }
        text = (
            f"id:{text_id or message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:2611221200 done date:2611221201 stat:{stat} err:{err} text:hello"
        )
        extra: P.Tlvs = {}
        if tlvs:
            extra = {
                P.Tag.RECEIPTED_MESSAGE_ID: P.text_tlv(message_id),
                P.Tag.MESSAGE_STATE: P.int_tlv(state[stat], 1),
            }
        await self.send(
            P.ShortMessage(
                command_id=P.Command.DELIVER_SM, esm_class=0x04, short_message=text.encode(), tlvs=extra
            ),
            peer,
        )

    async def drop(self) -> None:
        """Close every connection at once, without unbinding."""
        dropped, self.peers = self.peers, []  # whoever connects from now on is a new peer
        for peer in dropped:
            peer.writer.close()
        for peer in dropped:
            with contextlib.suppress(OSError):
                await peer.writer.wait_closed()

    # The server

    def _receiver(self) -> Peer:
        for peer in reversed(self.peers):
            if peer.bound_as in (P.Command.BIND_RECEIVER, P.Command.BIND_TRANSCEIVER):
                return peer
        raise AssertionError("no ESME is bound to receive")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.peers.append(peer)
        try:
            while True:
                head = await reader.readexactly(4)
                frame = head + await reader.readexactly(P.frame_length(head) - 4)
                await self._take(peer, P.decode(frame))
        except (asyncio.IncompleteReadError, OSError, P.PduError):
            pass

        finally:
            writer.close()
            await self._notify()

    async def _take(self, peer: Peer, pdu: P.Pdu) -> None:
        """Record ``pdu`` and start answering it before telling the waiting test (which may then
        change how later PDUs are answered, not this one)."""
        if pdu.is_response:
            self.responses.append(pdu)
        else:
            self.received.append(Received(pdu, peer))
        if not pdu.is_response and not self.silent:
            await self._answer(peer, pdu)
        await self._notify()

    async def _answer(self, peer: Peer, pdu: P.Pdu) -> None:
        if pdu.command_id in BIND_COMMANDS and isinstance(pdu, P.Bind):
            await self._bind(peer, pdu)
        elif pdu.command_id == P.Command.SUBMIT_SM and isinstance(pdu, P.ShortMessage):
            peer.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, peer.outstanding)
            task = asyncio.create_task(self._answer_submit(peer, pdu, self.response_delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif pdu.command_id in (P.Command.ENQUIRE_LINK, P.Command.UNBIND):
            await self._reply(peer, P.Empty(command_id=pdu.command_id | P.RESPONSE, sequence=pdu.sequence))
        else:
            await self._reply(peer, P.Empty(command_id=P.Command.GENERIC_NACK, status=P.Status.ESME_RINVCMDID,
                                            sequence=pdu.sequence))  # fmt: skip

    async def _bind(self, peer: Peer, bind: P.Bind) -> None:
        ok = (bind.system_id, bind.password) == (self.system_id, self.password)
        if ok:
            peer.bound_as, peer.system_id = bind.command_id, bind.system_id
        status = P.Status.ESME_ROK if ok else P.Status.ESME_RBINDFAIL
        response = P.BindResp(command_id=bind.command_id | P.RESPONSE, status=status, sequence=bind.sequence,
                              system_id="scripted")  # fmt: skip
        await self._reply(peer, response)
        if ok and self.drop_after_bind:
            peer.writer.close()

    async def _answer_submit(self, peer: Peer, submit: P.ShortMessage, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        status = self.answer(submit)
        message_id = self.message_id(next(self._ids)) if status == P.Status.ESME_ROK else ""
        if message_id:
            self.issued.append(message_id)
        peer.outstanding -= 1
        if self.silent:
            return
        response = P.MessageIdResp(
            command_id=P.Command.SUBMIT_SM_RESP,
            status=status,
            sequence=submit.sequence,
            message_id=message_id,
        )
        with contextlib.suppress(OSError):
            await self._reply(peer, response)

    async def _reply(self, peer: Peer, pdu: P.Pdu) -> None:
        peer.writer.write(P.encode(pdu))
        await peer.writer.drain()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
