from __future__ import annotations

import pytest

from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.receipts import IdFormat, appendix_b, canonical, is_receipt, read_receipt
from qasid.domain.states import MessageStatus

APPENDIX_B = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 "
    "text:Your code is 4821"
)


def receipt(text: str = APPENDIX_B, esm_class: int = 0x04, **tlvs: bytes) -> P.ShortMessage:
    values = {P.Tag[name.upper()]: value for name, value in tlvs.items()}
    return P.ShortMessage(command_id=P.Command.DELIVER_SM, esm_class=esm_class, short_message=text.encode(),
                          tlvs=values)  # fmt: skip


class TestTellingReceiptsApart:
    @pytest.mark.parametrize(
        ("esm_class", "expected"),
        [(0x04, True), (0x20, True), (0x44, True), (0x00, False), (0x40, False), (0x08, False)],
    )
    def test_by_the_message_type_bits(self, esm_class, expected):
        assert is_receipt(esm_class) is expected


class TestReading:
    def test_the_appendix_b_text(self):
        found = read_receipt(receipt())
        assert found is not None
        assert (found.message_id, found.status, found.error_code) == (
            "0123456789",
            MessageStatus.DELIVERED,
            "000",
        )
        assert found.raw == APPENDIX_B

    def test_the_tlvs_win_over_the_text(self):
        found = read_receipt(receipt(receipted_message_id=P.text_tlv("1a2b"), message_state=P.int_tlv(5, 1),
                                     network_error_code=bytes([3, 0, 34])))  # fmt: skip
        assert found is not None
        assert (found.message_id, found.status, found.error_code) == (
            "1a2b",
            MessageStatus.UNDELIVERED,
            "3:034",
        )
        assert "receipted_message_id=1a2b" in found.raw
        assert "message_state=05" in found.raw

    def test_tlvs_alone_are_enough(self):
        found = read_receipt(
            receipt("", receipted_message_id=P.text_tlv("77"), message_state=P.int_tlv(8, 1))
        )
        assert found is not None
        assert (found.message_id, found.status) == ("77", MessageStatus.REJECTED)

    @pytest.mark.parametrize(
        ("text", "status"),
        [
            ("id:1 stat:UNDELIV err:001", MessageStatus.UNDELIVERED),
            ("ID:1 SUB:001 DLVRD:000 SUBMIT DATE:2611221200 DONE DATE:2611221200 STAT:EXPIRED ERR:000",
             MessageStatus.EXPIRED),
            ("stat:REJECTD err:002 id:1", MessageStatus.REJECTED),
            ("id: 1  stat: DELIVRD", MessageStatus.DELIVERED),
            ("id:1 stat:ENROUTE", MessageStatus.SENT),
            ("id:1 stat:WHATEVER", MessageStatus.UNDELIVERED),
        ],
    )  # fmt: skip
    def test_leniently(self, text, status):
        found = read_receipt(receipt(text))
        assert found is not None
        assert (found.message_id, found.status) == ("1", status)

    def test_the_text_field_runs_to_the_end_whatever_it_holds(self):
        fields = appendix_b("id:9 stat:DELIVRD err:000 text:stat:UNDELIV id:5")
        assert (fields["id"], fields["stat"], fields["text"]) == ("9", "DELIVRD", "stat:UNDELIV id:5")

    @pytest.mark.parametrize("text", ["stat:DELIVRD err:000", "id:5 err:000", "hello there"])
    def test_no_id_or_no_state_is_no_receipt(self, text):
        assert read_receipt(receipt(text)) is None

    def test_a_data_sm_receipt_in_message_payload(self):
        pdu = P.DataSm(esm_class=0x04, tlvs={P.Tag.MESSAGE_PAYLOAD: b"id:42 stat:DELIVRD err:000"})
        found = read_receipt(pdu)
        assert found is not None
        assert (found.message_id, found.status) == ("42", MessageStatus.DELIVERED)


class TestMatchingIds:
    @pytest.mark.parametrize(
        ("submitted", "submit_format", "reported", "report_format"),
        [
            ("1A2B", IdFormat.HEX, "6699", IdFormat.DEC),
            ("00001a2b", IdFormat.HEX, "1A2B", IdFormat.HEX),
            ("0000006699", IdFormat.DEC, "6699", IdFormat.DEC),
            ("abc-123", IdFormat.TEXT, " abc-123\0", IdFormat.TEXT),
        ],
    )
    def test_the_same_id_written_two_ways_matches(self, submitted, submit_format, reported, report_format):
        assert canonical(submitted, submit_format) == canonical(reported, report_format)

    def test_text_ids_are_compared_as_they_are(self):
        assert canonical("0a1b", IdFormat.TEXT) != canonical("a1b", IdFormat.TEXT)

    def test_an_id_that_is_no_number_stays_text(self):
        assert canonical("msg-7", IdFormat.HEX) == "msg-7"
