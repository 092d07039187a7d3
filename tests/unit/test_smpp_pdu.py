from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.channels.smpp import pdu as P

octet = st.integers(0, 255)
sequence = st.integers(1, 0x7FFF_FFFF)
status = st.sampled_from([0, *(s.value for s in P.Status), 0x400, 0x4FF])


def c_octet(size: int) -> st.SearchStrategy[str]:
    """Strings that fit a C-Octet field of ``size`` (NUL included), any Latin-1 but NUL."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=size - 1)


tlvs = st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=5)


def header() -> dict[str, st.SearchStrategy[int]]:
    return {"status": status, "sequence": sequence}


binds = st.builds(
    P.Bind,
    command_id=st.sampled_from([P.Command.BIND_RECEIVER, P.Command.BIND_TRANSMITTER,
                                P.Command.BIND_TRANSCEIVER]),
    system_id=c_octet(16), password=c_octet(9), system_type=c_octet(13), interface_version=octet,
    addr_ton=octet, addr_npi=octet, address_range=c_octet(41), **header(),
)  # fmt: skip
bind_resps = st.builds(
    P.BindResp,
    command_id=st.sampled_from([c | P.RESPONSE for c in (1, 2, 9)]),
    system_id=c_octet(16), tlvs=tlvs, **header(),
)  # fmt: skip
short_messages = st.builds(
    P.ShortMessage,
    command_id=st.sampled_from([P.Command.SUBMIT_SM, P.Command.DELIVER_SM]),
    service_type=c_octet(6), source_addr_ton=octet, source_addr_npi=octet, source_addr=c_octet(21),
    dest_addr_ton=octet, dest_addr_npi=octet, destination_addr=c_octet(21), esm_class=octet,
    protocol_id=octet, priority_flag=octet, schedule_delivery_time=c_octet(17),
    validity_period=c_octet(17), registered_delivery=octet, replace_if_present_flag=octet,
    data_coding=octet, sm_default_msg_id=octet, short_message=st.binary(max_size=254), tlvs=tlvs,
    **header(),
)  # fmt: skip
data_sms = st.builds(
    P.DataSm,
    service_type=c_octet(6), source_addr_ton=octet, source_addr_npi=octet, source_addr=c_octet(65),
    dest_addr_ton=octet, dest_addr_npi=octet, destination_addr=c_octet(65), esm_class=octet,
    registered_delivery=octet, data_coding=octet, tlvs=tlvs, **header(),
)  # fmt: skip
message_id_resps = st.builds(
    P.MessageIdResp,
    command_id=st.sampled_from([P.Command.SUBMIT_SM_RESP, P.Command.DELIVER_SM_RESP, P.Command.DATA_SM_RESP]),
    message_id=c_octet(65).filter(bool), tlvs=tlvs, **header(),
)  # fmt: skip
empties = st.builds(
    P.Empty,
    command_id=st.sampled_from([P.Command.GENERIC_NACK, P.Command.UNBIND, P.Command.UNBIND_RESP,
                                P.Command.ENQUIRE_LINK, P.Command.ENQUIRE_LINK_RESP]),
    **header(),
)  # fmt: skip
outbinds = st.builds(P.Outbind, system_id=c_octet(16), password=c_octet(9), **header())
alerts = st.builds(
    P.AlertNotification,
    source_addr_ton=octet, source_addr_npi=octet, source_addr=c_octet(65), esme_addr_ton=octet,
    esme_addr_npi=octet, esme_addr=c_octet(65), tlvs=tlvs, **header(),
)  # fmt: skip
every_pdu = st.one_of(
    binds, bind_resps, short_messages, data_sms, message_id_resps, empties, outbinds, alerts
)


class TestRoundTrip:
    @given(every_pdu)
    def test_every_pdu_decodes_to_what_was_encoded(self, pdu):
        assert P.decode(P.encode(pdu)) == pdu

    @given(every_pdu)
    def test_the_length_in_the_header_is_the_frame_length(self, pdu):
        frame = P.encode(pdu)
        assert P.frame_length(frame[:4]) == len(frame)


class TestKnownFrames:
    """Frames written out by hand from the SMPP 3.4 specification."""

    def test_enquire_link(self):
        frame = bytes.fromhex("00000010 00000015 00000000 00000001")
        assert P.decode(frame) == P.Empty(command_id=P.Command.ENQUIRE_LINK, sequence=1)
        assert P.encode(P.Empty(command_id=P.Command.ENQUIRE_LINK, sequence=1)) == frame

    def test_bind_transmitter(self):
        body = b"qasid\0secret\0\0" + bytes([0x34, 1, 1]) + b"\0"
        frame = struct.pack(">IIII", 16 + len(body), 2, 0, 7) + body
        pdu = P.decode(frame)
        assert pdu == P.Bind(command_id=P.Command.BIND_TRANSMITTER, sequence=7, system_id="qasid",
                             password="secret", addr_ton=1, addr_npi=1)  # fmt: skip
        assert P.encode(pdu) == frame

    def test_submit_sm_with_a_sar_tlv(self):
        body = (
            b"\0" + bytes([5, 0]) + b"Qasid\0" + bytes([1, 1]) + b"9647701234567\0"
            + bytes([0, 0, 0]) + b"\0\0" + bytes([1, 0, 0, 0]) + bytes([5]) + b"hello"
            + struct.pack(">HHB", 0x020E, 1, 2)
        )  # fmt: skip
        frame = struct.pack(">IIII", 16 + len(body), 4, 0, 9) + body
        pdu = P.decode(frame)
        assert isinstance(pdu, P.ShortMessage)
        assert (pdu.source_addr_ton, pdu.source_addr, pdu.destination_addr) == (5, "Qasid", "9647701234567")
        assert (pdu.registered_delivery, pdu.short_message) == (1, b"hello")
        assert P.tlv_int(pdu.tlvs, P.Tag.SAR_TOTAL_SEGMENTS) == 2
        assert P.encode(pdu) == frame

    def test_an_error_response_without_a_body(self):
        frame = struct.pack(">IIII", 16, P.Command.SUBMIT_SM_RESP, P.Status.ESME_RTHROTTLED, 3)
        pdu = P.decode(frame)
        assert pdu == P.MessageIdResp(command_id=P.Command.SUBMIT_SM_RESP, status=0x58, sequence=3)

    def test_a_message_id_longer_than_the_specification_allows_is_taken_whole(self):
        long_id = "f" * 80
        body = long_id.encode() + b"\0"
        frame = struct.pack(">IIII", 16 + len(body), P.Command.SUBMIT_SM_RESP, 0, 4) + body
        assert P.decode(frame).message_id == long_id  # type: ignore[attr-defined]

    def test_receipt_tlvs_read_as_text_and_numbers(self):
        tlvs = {P.Tag.RECEIPTED_MESSAGE_ID: P.text_tlv("0a1b"), P.Tag.MESSAGE_STATE: P.int_tlv(2, 1),
                P.Tag.NETWORK_ERROR_CODE: bytes([3, 0, 0x22])}  # fmt: skip
        assert P.tlv_text(tlvs, P.Tag.RECEIPTED_MESSAGE_ID) == "0a1b"
        assert P.tlv_text({1: b"0a1b"}, 1) == "0a1b"  # some peers leave the NUL out
        assert P.tlv_int(tlvs, P.Tag.MESSAGE_STATE) == 2
        assert P.tlv_int(tlvs, 0x9999) is None


def _resp(body: bytes) -> bytes:
    return struct.pack(">IIII", 16 + len(body), P.Command.SUBMIT_SM_RESP, 0, 1) + body


class TestBadFrames:
    """What a peer gets wrong is answered with the status SMPP names for it."""

    @pytest.mark.parametrize(
        ("frame", "status"),
        [
            (bytes.fromhex("0000000c 00000015 00000000"), P.Status.ESME_RINVCMDLEN),
            (bytes.fromhex("00000011 00000015 00000000 00000001"), P.Status.ESME_RINVCMDLEN),
            (bytes.fromhex("00000010 000000ff 00000000 00000001"), P.Status.ESME_RINVCMDID),
            (bytes.fromhex("00000014 00000015 00000000 00000001 00000000"), P.Status.ESME_RINVCMDLEN),
            (struct.pack(">IIII", 20, 2, 0, 1) + b"abcd", P.Status.ESME_RINVMSGLEN),
            (struct.pack(">IIII", 17, 4, 0, 1) + b"\0", P.Status.ESME_RINVMSGLEN),
            (_resp(b"id\0\x02\x0e\x00"), P.Status.ESME_RINVOPTPARSTREAM),
            (_resp(b"id\0\x02\x0e\x00\x09\x01"), P.Status.ESME_RINVPARLEN),
        ],
    )  # fmt: skip
    def test_status_for_each_fault(self, frame, status):
        with pytest.raises(P.PduError) as caught:
            P.decode(frame)
        assert caught.value.status == status

    def test_the_sequence_of_a_bad_pdu_is_kept_for_the_answer(self):
        with pytest.raises(P.PduError) as caught:
            P.decode(bytes.fromhex("00000010 000000ff 00000000 0000002a"))
        assert (caught.value.sequence, caught.value.command_id) == (42, 0xFF)

    @pytest.mark.parametrize("length", [0, 15, 70_001, 0xFFFF_FFFF])
    def test_impossible_lengths_end_the_stream(self, length):
        with pytest.raises(P.PduError):
            P.frame_length(length.to_bytes(4, "big"))

    @given(st.binary(min_size=16, max_size=400))
    def test_any_bytes_decode_or_raise_pdu_error(self, junk):
        frame = len(junk).to_bytes(4, "big") + junk[4:]
        with contextlib.suppress(P.PduError):  # anything else escaping would fail the test
            P.decode(frame)

    def test_values_that_do_not_fit_are_refused_before_sending(self):
        with pytest.raises(ValueError, match="system_id"):
            P.encode(P.Bind(command_id=P.Command.BIND_TRANSMITTER, system_id="x" * 16))
        with pytest.raises(ValueError, match="message_payload"):
            P.encode(P.ShortMessage(command_id=P.Command.SUBMIT_SM, short_message=b"x" * 255))
        with pytest.raises(ValueError, match="octet"):
            P.encode(P.ShortMessage(command_id=P.Command.SUBMIT_SM, esm_class=256))

    def test_status_names(self):
        assert P.status_name(0x58) == "ESME_RTHROTTLED"
        assert P.status_name(0x401) == "0x00000401"
