from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.text import (
    UDHI,
    DataCoding,
    LongMessages,
    decode_message,
    decode_text,
    encode_message,
    split_units,
)
from qasid.domain.encoding import GSM7_CHARACTERS, analyze, split


def deliver(part, data_coding: int) -> P.ShortMessage:
    """The part as the receiving side would get it."""
    return P.ShortMessage(command_id=P.Command.DELIVER_SM, esm_class=part.esm_class, data_coding=data_coding,
                          short_message=part.short_message, tlvs=part.tlvs)  # fmt: skip


def round_trip(text: str, **options) -> str:
    encoded = encode_message(split(text), analyze(text).encoding.value, **options)
    packed = options.get("gsm_packed", False)
    return "".join(
        decode_message(deliver(p, encoded.data_coding), gsm_packed=packed).text for p in encoded.parts
    )


class TestOneSubmit:
    def test_gsm_text_goes_unpacked_with_data_coding_0(self):
        encoded = encode_message(["Hello {you}"], "gsm7")
        assert encoded.data_coding == DataCoding.DEFAULT
        assert encoded.parts[0].short_message == b"Hello \x1b(you\x1b)"  # { and } are escaped septets
        assert encoded.parts[0].esm_class == 0

    def test_gsm_text_packed_when_the_connector_says_so(self):
        encoded = encode_message(["hellohello"], "gsm7", gsm_packed=True)
        assert encoded.parts[0].short_message.hex() == "e8329bfd4697d9ec37"  # TS 23.038 packing

    def test_arabic_goes_as_ucs2(self):
        encoded = encode_message(["رمزك 4821"], "ucs2")
        assert encoded.data_coding == DataCoding.UCS2
        assert encoded.parts[0].short_message == "رمزك 4821".encode("utf-16-be")

    def test_latin1_when_the_connector_prefers_it_and_every_character_has_a_code(self):
        encoded = encode_message(["café"], "gsm7", default_data_coding=DataCoding.LATIN1)
        assert (encoded.data_coding, encoded.parts[0].short_message) == (3, "café".encode("latin-1"))

    def test_a_gsm_character_latin1_lacks_falls_back_to_ucs2(self):
        encoded = encode_message(["ΔΣ ok"], "gsm7", default_data_coding=DataCoding.LATIN1)
        assert (encoded.data_coding, encoded.parts[0].short_message) == (8, "ΔΣ ok".encode("utf-16-be"))

    def test_ia5_for_ascii(self):
        encoded = encode_message(["plain"], "gsm7", default_data_coding=DataCoding.IA5)
        assert (encoded.data_coding, encoded.parts[0].short_message) == (1, b"plain")


class TestConcatenation:
    def test_parts_carry_a_user_data_header_with_reference_total_and_sequence(self):
        text = "x" * 300
        encoded = encode_message(split(text), "gsm7", reference=0x1A7)
        assert [p.short_message[:6].hex() for p in encoded.parts] == ["050003a70201", "050003a70202"]
        assert all(p.esm_class == UDHI for p in encoded.parts)
        assert [len(p.short_message) - 6 for p in encoded.parts] == [153, 147]

    def test_sar_tlvs_instead_of_a_header(self):
        encoded = encode_message(split("y" * 200), "gsm7", long_messages=LongMessages.SAR, reference=0x1234)
        first, second = encoded.parts
        assert first.esm_class == 0
        assert P.tlv_int(first.tlvs, P.Tag.SAR_MSG_REF_NUM) == 0x1234
        assert [P.tlv_int(p.tlvs, P.Tag.SAR_SEGMENT_SEQNUM) for p in encoded.parts] == [1, 2]
        assert P.tlv_int(second.tlvs, P.Tag.SAR_TOTAL_SEGMENTS) == 2
        assert first.short_message == b"y" * 153

    def test_message_payload_sends_the_whole_text_at_once(self):
        text = "z" * 400
        encoded = encode_message(split(text), "gsm7", long_messages=LongMessages.PAYLOAD)
        assert len(encoded.parts) == 1
        assert encoded.parts[0].short_message == b""
        assert encoded.parts[0].tlvs[P.Tag.MESSAGE_PAYLOAD] == text.encode()

    def test_latin1_parts_hold_134_octets(self):
        encoded = encode_message(split("é" * 300), "gsm7", default_data_coding=DataCoding.LATIN1)
        assert [len(p.short_message) - 6 for p in encoded.parts] == [134, 134, 32]

    def test_decoded_parts_say_where_they_belong(self):
        encoded = encode_message(split("w" * 200), "gsm7", reference=9)
        decoded = [decode_message(deliver(p, 0)) for p in encoded.parts]
        assert [(d.reference, d.total, d.sequence) for d in decoded] == [(9, 2, 1), (9, 2, 2)]

    def test_a_16_bit_reference_header_is_read_too(self):
        pdu = P.ShortMessage(command_id=P.Command.DELIVER_SM, esm_class=UDHI,
                             short_message=bytes([6, 8, 4, 0x12, 0x34, 3, 2]) + b"abc")  # fmt: skip
        assert decode_message(pdu) == decode_message(pdu).__class__("abc", 0x1234, 3, 2)


gsm_text = st.text(st.sampled_from(sorted(GSM7_CHARACTERS)), min_size=1, max_size=500)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


class TestRoundTrips:
    @given(gsm_text)
    def test_gsm_unpacked(self, text):
        assert round_trip(text) == text

    @given(gsm_text)
    def test_gsm_packed_with_fill_bits_after_the_header(self, text):
        got = round_trip(text, gsm_packed=True)
        # TS 23.038 §6.1.2.3.1: a text whose last CR ends on an octet boundary arrives with the CR
        # doubled (the one case packing cannot carry exactly; see the test below).
        assert got == text or (text.endswith("\r") and got == text + "\r")

    def test_a_final_cr_on_an_octet_boundary_is_doubled_and_a_padding_cr_is_dropped(self):
        on_boundary = "x" * 7 + "\r"  # 8 septets = 56 bits = 7 octets exactly
        assert len(encode_message([on_boundary], "gsm7", gsm_packed=True).parts[0].short_message) == 8
        assert round_trip(on_boundary, gsm_packed=True) == on_boundary + "\r"
        seven_spare = "x" * 6 + "\r"  # 7 septets = 49 bits: the CR padding fills the last octet
        assert round_trip(seven_spare, gsm_packed=True) == seven_spare
        assert round_trip("x" * 7, gsm_packed=True) == "x" * 7

    @given(any_text)
    def test_anything_in_ucs2(self, text):
        assert round_trip(text) == text

    @given(any_text, st.sampled_from(list(LongMessages)))
    def test_every_long_message_mode(self, text, mode):
        assert round_trip(text, long_messages=mode) == text

    @given(gsm_text, st.sampled_from([DataCoding.IA5, DataCoding.LATIN1]))
    def test_the_other_default_codings(self, text, coding):
        assert round_trip(text, default_data_coding=coding) == text


class TestReadingWhatPeersSend:
    @pytest.mark.parametrize(
        ("coding", "data", "text"),
        [
            (0xF0, b"hi", "hi"),  # message class 0, GSM
            (0xF4, b"\xe9", "é"),  # message class 0, 8-bit data
            (8, b"\x00a\x00", "a"),  # an odd octet is dropped, not fatal
            (8, b"\xd8\x00", "\ufffd"),  # a lone surrogate
            (0, b"caf\xe9", "café"),  # Latin-1 sent under data_coding 0
        ],
    )
    def test_never_raises(self, coding, data, text):
        assert decode_text(coding, data) == text

    def test_split_units_keeps_surrogate_pairs_whole(self):
        parts = split_units("a" * 66 + "😀" + "b" * 10, 70, 67, ucs2=True)
        assert parts[0] == "a" * 66
        assert parts[1].startswith("😀")
