"""The gateway's SMPP connector against a third, independent SMSC: the server of smpp34 (a Rust
implementation of SMPP 3.4 with a Python binding)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import smpp34

from tests.integration.test_dispatch import final, send
from tests.integration.test_smpp_gateway import ZAIN, smpp_route


@dataclass
class Smpp34Smsc:
    """smpp34's server, accepting every submit_sm and answering each with a receipt."""

    server: smpp34.Server
    submits: list[smpp34.SubmitSmEvent] = field(default_factory=list)
    sessions: dict[str, smpp34.Esme] = field(default_factory=dict)
    binds: int = 0

    async def serve(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
                self.binds += 1
            elif isinstance(event, smpp34.SubmitSmEvent):
                message_id = f"r{len(self.submits) + 1}"
                self.submits.append(event)
                event.accept(message_id=message_id)
                receipt = f"id:{message_id} sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 " \
                          "stat:DELIVRD err:000 text:"  # fmt: skip
                await self.sessions[event.session_id].deliver_sm(
                    destination_addr=event.source_addr, source_addr=event.destination_addr, esm_class=0x04,
                    short_message=receipt.encode(),
                )  # fmt: skip


@pytest.fixture
async def smpp34_smsc(unused_tcp_port: int) -> AsyncIterator[tuple[Smpp34Smsc, int]]:
    server = smpp34.Server("127.0.0.1", unused_tcp_port, system_id="rust-smsc")
    await server.start()
    smsc = Smpp34Smsc(server)
    task = asyncio.create_task(smsc.serve())
    yield smsc, unused_tcp_port
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await server.stop()


class TestAgainstSmpp34:
    async def test_a_message_goes_out_and_its_receipt_delivers_it(self, gateway, operator, db, smpp34_smsc):
        http, app = gateway
        smsc, port = smpp34_smsc
        customer = operator.customer()
        await smpp_route(app, db, port)
        sent = await send(http, customer, ZAIN)
        message = await final(http, customer, sent["messages"][0]["id"])
        assert message["status"] == "delivered"
        [submit] = smsc.submits
        assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == ("Qasid", 5, 0)
        assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == (ZAIN[1:], 1, 1)
        assert (submit.data_coding, submit.registered_delivery) == (0, 1)
        assert submit.short_message == b"Your code is 4821"

    async def test_a_long_ucs2_message_in_parts(self, gateway, operator, db, smpp34_smsc):
        http, app = gateway
        smsc, port = smpp34_smsc
        customer = operator.customer()
        await smpp_route(app, db, port)
        text = "رمز " * 30  # 120 UCS-2 units: two parts
        sent = await send(http, customer, ZAIN, text=text)
        message = await final(http, customer, sent["messages"][0]["id"])
        assert message["status"] == "delivered"
        first, second = smsc.submits
        assert (first.data_coding, first.esm_class & 0x40) == (8, 0x40)
        payload = b"".join(s.short_message[6:] for s in (first, second))
        assert payload.decode("utf-16-be") == text
