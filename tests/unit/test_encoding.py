"""SMS encoding and segment counting (3GPP TS 23.038 / TS 23.040).

Reference cases carry exact expected figures; the PyPI package ``smsutil`` is an independent oracle
for the encoding and the parts; the properties are checked with Hypothesis.
"""

from __future__ import annotations

import pytest
import smsutil  # type: ignore[import-untyped]
import smsutil.codecs  # type: ignore[import-untyped]  # registers the "gsm0338" codec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qasid.domain.encoding import (
    GSM7_CHARACTERS,
    Encoding,
    TextInfo,
    analyze,
    decode_gsm7,
    decode_ucs2,
    encode_gsm7,
    encode_ucs2,
    pack_septets,
    split,
    unpack_septets,
)

# --- character pools --------------------------------------------------------------------------------

ESC = "\x1b"
# smsutil's own copy of the TS 23.038 §6.2.1 table, indexed by septet; 0x1B is the escape.
GSM_BASIC = smsutil.codecs.GSM_BASIC_CHARSET.replace(ESC, "")
GSM_EXTENSION = "^{}\\[~]|\u20ac\f"
# Latin-1 letters and signs outside the GSM alphabet (ç á â ê ë í î ó ô õ ú À Á Ê Ó © °), backtick, tab.
LATIN1_NOT_GSM = (
    "\u00e7\u00e1\u00e2\u00ea\u00eb\u00ed\u00ee\u00f3\u00f4\u00f5\u00fa"
    "\u00c0\u00c1\u00ca\u00d3\u00a9\u00b0`\t"
)
# Arabic letters, Arabic-Indic digits one and two, Arabic comma (no space: a space is GSM).
ARABIC = (
    "\u0627\u0628\u062a\u062b\u062c\u062d\u062e\u062f\u0631\u0633"
    "\u0639\u0644\u0645\u0646\u0647\u0648\u064a\u0661\u0662\u060c"
)
EMOJI = "\U0001f600\U0001f389\U0001f44d\U0001f680\u2764\U0001f1f8\U0001f1e6"

AIN = "\u0639"  # ARABIC LETTER AIN, one UTF-16 unit
GRIN = "\U0001f600"  # GRINNING FACE, outside the BMP: a surrogate pair, two UTF-16 units
EURO = "\u20ac"


def texts_of(alphabet: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Texts of a uniformly drawn length, so that the part boundaries (153, 160, 67, 70) get hit."""
    return st.integers(min_value=0, max_value=max_size).flatmap(
        lambda size: st.text(alphabet, min_size=size, max_size=size)
    )


gsm_texts = texts_of(st.sampled_from(GSM_BASIC) | st.sampled_from(GSM_EXTENSION), 480)
ucs2_texts = texts_of(st.sampled_from(ARABIC) | st.sampled_from(EMOJI), 220)
mixed_texts = texts_of(
    st.sampled_from(GSM_BASIC)
    | st.sampled_from(GSM_EXTENSION)
    | st.sampled_from(LATIN1_NOT_GSM)
    | st.sampled_from(ARABIC)
    | st.sampled_from(EMOJI),
    350,
)
# Ordinary SMS content: a GSM text in which a single non-GSM character may appear.
gsm_with_one_stranger = st.builds(
    lambda text, stranger, at: text[:at] + stranger + text[at:],
    gsm_texts,
    st.sampled_from(LATIN1_NOT_GSM + ARABIC + EMOJI),
    st.integers(min_value=0, max_value=480),
)
any_texts = gsm_texts | ucs2_texts | mixed_texts | gsm_with_one_stranger | st.text(max_size=300)

septet_strings = st.binary(max_size=200).map(lambda data: bytes(b & 0x7F for b in data))
fill_bits = st.integers(min_value=0, max_value=6)


# --- independent helpers -----------------------------------------------------------------------------


def units_in(encoding: Encoding, text: str) -> int:
    """Size of ``text`` in ``encoding`` measured without analyze()."""
    if encoding is Encoding.GSM7:
        return len(encode_gsm7(text))
    return len(text.encode("utf-16-be")) // 2


def part_limit(parts: list[str], encoding: Encoding) -> int:
    single, multi = (160, 153) if encoding is Encoding.GSM7 else (70, 67)
    return single if len(parts) == 1 else multi


def reference_pack(septets: bytes, fill: int) -> bytes:
    """TS 23.038 §6.1.2.1 written out as a bit string: each septet LSB first, octets filled LSB first."""
    bits = [0] * fill + [(septet >> i) & 1 for septet in septets for i in range(7)]
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bit << i for i, bit in enumerate(bits[n : n + 8])) for n in range(0, len(bits), 8))


# --- smsutil as an oracle ----------------------------------------------------------------------------

SMSUTIL_ENCODINGS = {"gsm0338": Encoding.GSM7, "utf_16_be": Encoding.UCS2}


def smsutil_disagrees_on_encoding(text: str) -> bool:
    """The cases where smsutil departs from TS 23.038, so only its encoding verdict is ignored.

    * The empty text: smsutil's ``is_valid_gsm`` is the regex ``^[...]+$``, which needs at least one
      character, so it reports UCS-2. No character of an empty text is outside the default alphabet,
      so it is GSM-7 (it is 1 part of 0 units either way, and smsutil agrees on that).
    * U+001B ESCAPE: smsutil keeps position 0x1B in its basic character set and sends it as one
      septet. In TS 23.038 §6.2.1 0x1B is the escape to the extension table, not a character: sent
      from text it would turn the next character into an extension character on the handset. We send
      such a text as UCS-2, which also changes its size and parts.
    """
    return text == "" or ESC in text


def smsutil_disagrees_on_parts(text: str) -> bool:
    return ESC in text


def assert_smsutil_agrees(text: str) -> None:
    oracle = smsutil.split(text)
    info = analyze(text)
    if not smsutil_disagrees_on_encoding(text):
        assert SMSUTIL_ENCODINGS[oracle.encoding] is info.encoding
    if not smsutil_disagrees_on_parts(text):
        assert len(oracle.parts) == info.segments
        assert [part.content for part in oracle.parts] == split(text)
        unit_bytes = 1 if oracle.encoding == "gsm0338" else 2
        assert oracle.total_bytes // unit_bytes == info.units


# --- reference cases ---------------------------------------------------------------------------------

# (text, encoding, units, segments)
REFERENCE_CASES = [
    pytest.param("", Encoding.GSM7, 0, 1, id="empty"),
    pytest.param("a" * 160, Encoding.GSM7, 160, 1, id="ascii-160"),
    pytest.param("a" * 161, Encoding.GSM7, 161, 2, id="ascii-161"),
    pytest.param("a" * 306, Encoding.GSM7, 306, 2, id="ascii-306"),
    pytest.param("a" * 307, Encoding.GSM7, 307, 3, id="ascii-307"),
    pytest.param("a" * 159 + EURO, Encoding.GSM7, 161, 2, id="euro-makes-161-septets"),
    pytest.param("a" * 158 + EURO, Encoding.GSM7, 160, 1, id="euro-fills-160-septets"),
    pytest.param("a" * 159 + "{", Encoding.GSM7, 161, 2, id="brace-makes-161-septets"),
    pytest.param("a" * 152 + EURO + "b" * 10, Encoding.GSM7, 164, 2, id="euro-straddles-153"),
    pytest.param("a" * 152 + EURO + "b" * 153, Encoding.GSM7, 307, 3, id="euro-straddle-adds-a-part"),
    pytest.param("\u00c7a va", Encoding.GSM7, 5, 1, id="capital-c-cedilla-is-gsm"),
    pytest.param("\u00e7a va", Encoding.UCS2, 5, 1, id="small-c-cedilla-is-ucs2"),
    pytest.param("a\tb", Encoding.UCS2, 3, 1, id="tab-is-ucs2"),
    pytest.param("`", Encoding.UCS2, 1, 1, id="backtick-is-ucs2"),
    pytest.param("\f", Encoding.GSM7, 2, 1, id="form-feed-is-extension"),
    pytest.param(AIN * 70, Encoding.UCS2, 70, 1, id="arabic-70"),
    pytest.param(AIN * 71, Encoding.UCS2, 71, 2, id="arabic-71"),
    pytest.param(AIN * 134, Encoding.UCS2, 134, 2, id="arabic-134"),
    pytest.param(AIN * 135, Encoding.UCS2, 135, 3, id="arabic-135"),
    pytest.param(GRIN, Encoding.UCS2, 2, 1, id="emoji"),
    pytest.param(AIN * 69 + GRIN, Encoding.UCS2, 71, 2, id="arabic-69-plus-emoji"),
    pytest.param(AIN * 66 + GRIN + AIN * 10, Encoding.UCS2, 78, 2, id="emoji-straddles-67"),
    pytest.param("a" * 160 + GRIN, Encoding.UCS2, 162, 3, id="emoji-turns-ascii-into-ucs2"),
]


class TestAnalyze:
    @pytest.mark.parametrize(("text", "encoding", "units", "segments"), REFERENCE_CASES)
    def test_reference_case(self, text: str, encoding: Encoding, units: int, segments: int) -> None:
        assert analyze(text) == TextInfo(encoding, units, segments, len(text))

    def test_characters_counts_code_points_not_units(self) -> None:
        info = analyze(f"ok {GRIN}")
        assert (info.characters, info.units) == (4, 5)

    def test_greek_capitals_of_the_gsm_alphabet_stay_gsm(self) -> None:
        greek = "\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e"  # ΔΦΓΛΩΠΨΣΘΞ
        assert analyze(greek).encoding is Encoding.GSM7

    def test_ohm_sign_look_alike_is_not_gsm(self) -> None:
        assert analyze("10 \u2126").encoding is Encoding.UCS2

    def test_escape_character_in_text_is_not_gsm(self) -> None:
        assert analyze(f"a{ESC}b").encoding is Encoding.UCS2

    def test_encoding_values_are_stable_strings(self) -> None:
        assert [str(e) for e in Encoding] == ["gsm7", "ucs2"]

    @given(any_texts)
    @example("a" * 152 + EURO + "b" * 153)
    def test_segments_equal_number_of_split_parts(self, text: str) -> None:
        assert analyze(text).segments == len(split(text))

    @given(any_texts)
    def test_units_match_encoded_size(self, text: str) -> None:
        info = analyze(text)
        assert info.units == units_in(info.encoding, text)

    @given(gsm_texts)
    def test_gsm_text_is_gsm7(self, text: str) -> None:
        assert analyze(text).encoding is Encoding.GSM7

    @given(gsm_with_one_stranger)
    def test_one_non_gsm_character_makes_the_whole_text_ucs2(self, text: str) -> None:
        assert analyze(text).encoding is Encoding.UCS2


class TestSplit:
    def test_single_part_is_the_text(self) -> None:
        assert split("Your code is 123456") == ["Your code is 123456"]

    def test_empty_text_is_one_empty_part(self) -> None:
        assert split("") == [""]

    def test_160_septets_with_an_extension_character_stay_one_part(self) -> None:
        text = "a" * 158 + EURO
        assert split(text) == [text]

    def test_ascii_is_cut_every_153_characters(self) -> None:
        assert [len(part) for part in split("a" * 307)] == [153, 153, 1]

    def test_extension_character_that_would_straddle_moves_to_next_part(self) -> None:
        assert split("a" * 152 + EURO + "b" * 10) == ["a" * 152, EURO + "b" * 10]

    def test_extension_character_that_fits_exactly_stays(self) -> None:
        assert split("a" * 151 + EURO + "b" * 10) == ["a" * 151 + EURO, "b" * 10]

    def test_arabic_is_cut_every_67_characters(self) -> None:
        assert [len(part) for part in split(AIN * 135)] == [67, 67, 1]

    def test_surrogate_pair_that_would_straddle_moves_to_next_part(self) -> None:
        assert split(AIN * 66 + GRIN + AIN * 10) == [AIN * 66, GRIN + AIN * 10]

    def test_surrogate_pair_that_fits_exactly_stays(self) -> None:
        assert split(AIN * 65 + GRIN + AIN * 10) == [AIN * 65 + GRIN, AIN * 10]

    @given(any_texts)
    def test_parts_rejoin_to_the_text(self, text: str) -> None:
        assert "".join(split(text)) == text

    @given(any_texts)
    def test_every_part_fits(self, text: str) -> None:
        encoding = analyze(text).encoding
        parts = split(text)
        limit = part_limit(parts, encoding)
        assert all(units_in(encoding, part) <= limit for part in parts)

    @given(gsm_texts)
    def test_every_gsm_part_fits_by_our_own_count(self, text: str) -> None:
        parts = split(text)
        limit = part_limit(parts, Encoding.GSM7)
        assert all(analyze(part).units <= limit for part in parts)

    @given(ucs2_texts | mixed_texts)
    def test_no_part_holds_half_a_surrogate_pair(self, text: str) -> None:
        for part in split(text):
            assert part.encode("utf-16-be").decode("utf-16-be", "strict") == part

    @given(any_texts)
    def test_no_part_but_the_last_could_take_the_next_character(self, text: str) -> None:
        encoding = analyze(text).encoding
        parts = split(text)
        limit = part_limit(parts, encoding)
        consumed = 0
        for part in parts[:-1]:
            consumed += len(part)
            assert units_in(encoding, part + text[consumed]) > limit

    @given(any_texts)
    def test_no_part_is_empty_unless_the_text_is(self, text: str) -> None:
        assert all(split(text)) or text == ""


class TestSmsutilOracle:
    @pytest.mark.parametrize("text", [pytest.param(case.values[0], id=case.id) for case in REFERENCE_CASES])
    def test_reference_case(self, text: str) -> None:
        assert_smsutil_agrees(text)

    @settings(max_examples=500)
    @given(gsm_texts | ucs2_texts | mixed_texts | gsm_with_one_stranger)
    def test_generated_text(self, text: str) -> None:
        assert_smsutil_agrees(text)

    def test_empty_text_is_gsm7_although_smsutil_says_ucs2(self) -> None:
        assert (smsutil.split("").encoding, analyze("").encoding) == ("utf_16_be", Encoding.GSM7)

    def test_escape_character_is_ucs2_although_smsutil_says_gsm(self) -> None:
        assert (smsutil.split(ESC).encoding, analyze(ESC).encoding) == ("gsm0338", Encoding.UCS2)

    @given(gsm_texts)
    def test_smsutil_codec_encodes_gsm_text_to_the_same_septets(self, text: str) -> None:
        assert encode_gsm7(text) == text.encode("gsm0338")


class TestEncodeGsm7:
    @pytest.mark.parametrize(
        ("char", "septet"),
        [
            ("@", 0x00),
            ("$", 0x02),
            ("\u00c7", 0x09),
            ("\n", 0x0A),
            ("\r", 0x0D),
            ("_", 0x11),
            ("\u00a4", 0x24),
            ("\u00a1", 0x40),
            ("\u00a7", 0x5F),
            ("\u00bf", 0x60),
            ("\u00e0", 0x7F),
        ],
    )
    def test_default_alphabet_position(self, char: str, septet: int) -> None:
        assert encode_gsm7(char) == bytes([septet])

    def test_whole_default_alphabet_matches_smsutil_table(self) -> None:
        table = smsutil.codecs.GSM_BASIC_CHARSET
        assert [encode_gsm7(c) for c in table if c != ESC] == [bytes([i]) for i in range(128) if i != 0x1B]

    @pytest.mark.parametrize(
        ("char", "code"),
        [
            ("\f", 0x0A),
            ("^", 0x14),
            ("{", 0x28),
            ("}", 0x29),
            ("\\", 0x2F),
            ("[", 0x3C),
            ("~", 0x3D),
            ("]", 0x3E),
            ("|", 0x40),
            (EURO, 0x65),
        ],
    )
    def test_extension_character_is_escaped(self, char: str, code: int) -> None:
        assert encode_gsm7(char) == bytes([0x1B, code])

    def test_alphabet_has_128_minus_escape_plus_10_extension_characters(self) -> None:
        assert len(GSM7_CHARACTERS) == 127 + 10

    def test_small_c_cedilla_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
            encode_gsm7("\u00e7a")

    def test_escape_character_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
            encode_gsm7(ESC)

    @given(gsm_texts)
    def test_round_trips_through_decode(self, text: str) -> None:
        assert decode_gsm7(encode_gsm7(text)) == text


class TestDecodeGsm7:
    def test_plain_septets(self) -> None:
        assert decode_gsm7(bytes([0x00, 0x02, 0x5F, 0x60])) == "@$\u00a7\u00bf"

    def test_extension_pair(self) -> None:
        assert decode_gsm7(b"1\x1b\x65") == "1\u20ac"

    def test_escape_before_a_code_outside_the_extension_table_gives_the_default_character(self) -> None:
        assert decode_gsm7(b"\x1bA") == "A"

    def test_escape_escape_is_shown_as_a_space(self) -> None:
        assert decode_gsm7(b"a\x1b\x1bb") == "a b"

    def test_trailing_lone_escape_decodes_to_nothing(self) -> None:
        assert decode_gsm7(b"ab\x1b") == "ab"

    def test_line_feed_and_page_break_differ(self) -> None:
        assert decode_gsm7(b"\x0a\x1b\x0a") == "\n\f"

    def test_byte_above_0x7f_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="below 0x80"):
            decode_gsm7(b"\x80")

    @given(septet_strings)
    def test_any_septets_decode_to_gsm_text(self, septets: bytes) -> None:
        assert analyze(decode_gsm7(septets)).encoding is Encoding.GSM7


class TestPackSeptets:
    def test_known_vector_hellohello(self) -> None:
        packed = pack_septets(encode_gsm7("hellohello"))
        assert packed == bytes.fromhex("e8329bfd4697d9ec37")

    def test_known_vector_agrees_with_bit_string_reference(self) -> None:
        assert reference_pack(b"hellohello", 0) == bytes.fromhex("e8329bfd4697d9ec37")

    def test_eight_septets_fill_seven_octets(self) -> None:
        assert len(pack_septets(b"\x7f" * 8)) == 7

    def test_one_fill_bit_after_a_six_octet_header(self) -> None:
        assert pack_septets(b"\x7f", 1) == b"\xfe"

    def test_empty(self) -> None:
        assert pack_septets(b"") == b""

    def test_septet_above_0x7f_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="below 0x80"):
            pack_septets(b"\x80")

    def test_fill_bits_above_6_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="fill_bits"):
            pack_septets(b"a", 7)

    @given(septet_strings, fill_bits)
    def test_matches_bit_string_reference(self, septets: bytes, fill: int) -> None:
        assert pack_septets(septets, fill) == reference_pack(septets, fill)


class TestUnpackSeptets:
    def test_known_vector_hellohello(self) -> None:
        assert unpack_septets(bytes.fromhex("e8329bfd4697d9ec37"), 10) == b"hellohello"

    def test_count_stops_before_padding_bits(self) -> None:
        assert unpack_septets(b"\x7f", 1) == b"\x7f"

    def test_too_short_data_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="need 2 octets"):
            unpack_septets(b"\x00", 2)

    def test_fill_bits_below_0_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="fill_bits"):
            unpack_septets(b"\x00", 1, -1)

    @given(septet_strings, fill_bits)
    def test_round_trips_through_pack(self, septets: bytes, fill: int) -> None:
        assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


class TestUcs2:
    def test_is_utf16_big_endian_with_surrogate_pairs(self) -> None:
        assert encode_ucs2(f"{AIN}{GRIN}") == bytes.fromhex("0639d83dde00")

    @given(ucs2_texts | mixed_texts)
    def test_round_trips_through_decode(self, text: str) -> None:
        assert decode_ucs2(encode_ucs2(text)) == text
