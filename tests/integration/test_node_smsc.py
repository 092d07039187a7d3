"""The test SMSC (node-smpp) proven against a third SMPP implementation, smpplib, before our own
client is tested against it: binds, submits, delivery receipts and mobile-originated messages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, Self

import pytest
from smpplib import consts
from smpplib.client import Client
from smpplib.command import Command
from smpplib.exceptions import ConnectionError as SmppConnectionError
from smpplib.exceptions import PDUError
from smpplib.smpp import make_pdu

from tests.smsc.node_smsc import NodeSmsc

PASSWORD = "secret"  # the test SMSC's default account
GREETING = "سلام".encode("utf-16-be")
RECEIPT = re.compile(
    r"id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10} "
    r"stat:(?P<stat>[A-Z]+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


class Esme:
    """smpplib's blocking client, each call run in a thread; every read is bounded by its socket
    timeout, and deliver_sm is answered by smpplib itself (deliver_sm_resp, ESME_ROK)."""

    def __init__(self, smsc: NodeSmsc) -> None:
        self.client = Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=False)
        self.sent: list[Command] = []
        self.received: list[Command] = []
        self.client.set_message_sent_handler(self._sent)
        self.client.set_message_received_handler(self._received)

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.client.connect)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.client.disconnect)

    async def bind(self, password: str = PASSWORD, as_: str = "transceiver") -> None:
        bind = getattr(self.client, f"bind_{as_}")
        await asyncio.to_thread(bind, system_id="qasid", password=password)

    async def request(self, command: str) -> Command:
        """Send a bare request (enquire_link, unbind) and return the PDU that answers it."""
        await asyncio.to_thread(self.client.send_pdu, make_pdu(command, client=self.client))
        return await asyncio.to_thread(self.client.read_pdu)

    async def submit(self, **fields: Any) -> str:
        """Submit one message and return the id the SMSC answered with."""
        await asyncio.to_thread(self.client.send_message, **fields)
        await self._read_until(lambda: bool(self.sent))
        return str(self.sent.pop(0).message_id.decode())

    async def receive(self) -> Command:
        """The next deliver_sm, already answered."""
        await self._read_until(lambda: bool(self.received))
        return self.received.pop(0)

    def _sent(self, pdu: Command) -> None:  # smpplib calls its handlers with pdu=
        self.sent.append(pdu)

    def _received(self, pdu: Command) -> None:
        self.received.append(pdu)

    async def _read_until(self, done: Callable[[], bool]) -> None:
        while not done():
            await asyncio.to_thread(self.client.read_once, auto_send_enquire_link=False)


def message(to: str = "9647701234567", short_message: bytes = b"Your code is 4821", **fields: Any) -> dict:
    return {
        "source_addr_ton": consts.SMPP_TON_ALNUM,
        "source_addr_npi": consts.SMPP_NPI_UNK,
        "source_addr": "Qasid",
        "dest_addr_ton": consts.SMPP_TON_INTL,
        "dest_addr_npi": consts.SMPP_NPI_ISDN,
        "destination_addr": to,
        "short_message": short_message,
        **fields,
    }


class TestBind:
    async def test_a_transceiver_binds_with_the_configured_account(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            bound = await node_smsc.next_event("bind")
        assert bound["command"] == "bind_transceiver"
        assert bound["system_id"] == "qasid"

    async def test_a_wrong_password_is_refused_with_esme_rbindfail(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            with pytest.raises(PDUError) as refused:
                await esme.bind(password="wrong")
        assert refused.value.args[1] == consts.SMPP_ESME_RBINDFAIL
        assert (await node_smsc.next_event("bind_refused"))["reason"] == "bad credentials"


class TestSession:
    async def test_enquire_link_is_answered(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            answer = await esme.request("enquire_link")
        assert (answer.command, answer.status) == ("enquire_link_resp", 0)
        assert await node_smsc.next_event("enquire_link")

    async def test_unbind_is_answered_and_the_smsc_ends_the_connection(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            answer = await esme.request("unbind")
            with pytest.raises(SmppConnectionError):  # end of stream: the SMSC has closed its side
                await esme.receive()
        unbound = await node_smsc.next_event("unbind")
        assert (answer.command, answer.status) == ("unbind_resp", 0)
        assert await node_smsc.next_event("close", session=unbound["session"])


class TestSubmit:
    async def test_the_smsc_sees_the_exact_fields_and_octets_that_were_sent(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            message_id = await esme.submit(**message(short_message=GREETING, data_coding=8))
            submitted = await node_smsc.next_event("submit_sm")
        assert submitted["message_id"] == message_id
        assert submitted["source_addr"] == "Qasid"
        assert (submitted["source_addr_ton"], submitted["source_addr_npi"]) == (5, 0)
        assert submitted["destination_addr"] == "9647701234567"
        assert (submitted["dest_addr_ton"], submitted["dest_addr_npi"]) == (1, 1)
        assert submitted["data_coding"] == 8
        assert bytes.fromhex(submitted["short_message_hex"]) == GREETING
        assert submitted["tlvs"] == {}

    async def test_a_user_data_header_stays_in_the_octets(self, node_smsc: NodeSmsc):
        part = bytes.fromhex("0500034c0201") + b"@$_ first half"  # GSM codes, not text: kept as sent
        async with Esme(node_smsc) as esme:
            await esme.bind()
            await esme.submit(**message(short_message=part, esm_class=consts.SMPP_GSMFEAT_UDHI))
            submitted = await node_smsc.next_event("submit_sm")
        assert submitted["esm_class"] == 0x40
        assert bytes.fromhex(submitted["short_message_hex"]) == part

    async def test_optional_parameters_are_reported_by_name(self, node_smsc: NodeSmsc):
        sar = {"sar_msg_ref_num": 0x1234, "sar_total_segments": 3, "sar_segment_seqnum": 2}
        async with Esme(node_smsc) as esme:
            await esme.bind()
            await esme.submit(**message(short_message=b"", message_payload=GREETING * 40, **sar))
            submitted = await node_smsc.next_event("submit_sm")
        assert submitted["short_message_hex"] == ""
        assert submitted["tlvs"] == {**sar, "message_payload": (GREETING * 40).hex()}

    async def test_ids_can_be_hexadecimal(self):
        async with NodeSmsc(id_format="hex") as smsc, Esme(smsc) as esme:
            await esme.bind()
            message_id = await esme.submit(**message())
        assert message_id == "b2d05e01"


class TestReceipts:
    async def test_a_delivered_message_gets_an_appendix_b_receipt_for_its_id(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            message_id = await esme.submit(**message(registered_delivery=1))
            receipt = await esme.receive()
            answered = await node_smsc.next_event("deliver_sm_resp", type="receipt")
        assert receipt.esm_class == 0x04
        fields = RECEIPT.fullmatch(receipt.short_message.decode())
        assert fields is not None, receipt.short_message
        assert fields.groupdict() == {
            "id": message_id,
            "dlvrd": "001",
            "stat": "DELIVRD",
            "err": "000",
            "text": "Your code is 4821",
        }
        assert receipt.receipted_message_id.decode() == message_id
        assert receipt.message_state == 2
        assert (receipt.source_addr, receipt.destination_addr) == (b"9647701234567", b"Qasid")
        assert answered["command_status"] == 0

    async def test_a_number_ending_in_3_is_undelivered(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            message_id = await esme.submit(**message(to="9647701234563", registered_delivery=1))
            receipt = await esme.receive()
        fields = RECEIPT.fullmatch(receipt.short_message.decode())
        assert fields is not None, receipt.short_message
        assert (fields["id"], fields["stat"], fields["err"]) == (message_id, "UNDELIV", "001")
        assert receipt.message_state == 5

    async def test_no_receipt_is_sent_unless_asked_for(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            await esme.submit(**message(registered_delivery=0))
            await esme.submit(**message(registered_delivery=1))
            await esme.receive()
        assert [e["event"] for e in node_smsc.events if e["event"].startswith("receipt")] == ["receipt_sent"]

    async def test_a_transmitters_receipt_goes_to_a_receiver_of_the_same_account(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as sender, Esme(node_smsc) as receiver:
            await sender.bind(as_="transmitter")
            await receiver.bind(as_="receiver")
            message_id = await sender.submit(**message(registered_delivery=1))
            receipt = await receiver.receive()
        assert receipt.receipted_message_id.decode() == message_id

    async def test_a_receipt_waits_until_a_receiver_binds(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as sender:
            await sender.bind(as_="transmitter")
            message_id = await sender.submit(**message(registered_delivery=1))
            await node_smsc.next_event("receipt_queued", message_id=message_id)
        async with Esme(node_smsc) as receiver:
            await receiver.bind(as_="receiver")
            receipt = await receiver.receive()
        assert receipt.receipted_message_id.decode() == message_id


class TestMobileOriginated:
    async def test_an_mo_arrives_at_the_bound_client(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            await node_smsc.send_mo("+9647701234567", "12345", "hello")
            mo = await esme.receive()
            answered = await node_smsc.next_event("deliver_sm_resp", type="mo")
        assert (mo.esm_class, mo.data_coding, mo.short_message) == (0, 0, b"hello")
        assert (mo.source_addr, mo.source_addr_ton, mo.destination_addr) == (b"9647701234567", 1, b"12345")
        assert answered["command_status"] == 0

    async def test_text_outside_ascii_goes_as_ucs2(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            await node_smsc.send_mo("+9647701234567", "12345", "سلام")
            mo = await esme.receive()
        assert (mo.data_coding, mo.short_message) == (8, GREETING)

    async def test_an_mo_with_no_receiver_bound_is_refused(self, node_smsc: NodeSmsc):
        with pytest.raises(AssertionError, match="no receiving session"):
            await node_smsc.send_mo("+9647701234567", "12345", "hello")


class TestDrop:
    async def test_drop_closes_every_connection(self, node_smsc: NodeSmsc):
        async with Esme(node_smsc) as esme:
            await esme.bind()
            assert (await node_smsc.drop())["sessions"] == 1
            await node_smsc.next_event("close")
            with pytest.raises(SmppConnectionError):
                await esme.receive()
