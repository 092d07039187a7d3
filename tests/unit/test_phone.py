"""Recipient parsing and classification (qasid.domain.phone).

Behaviour first (Iraqi forms, operators, refusals), then the fast path's equivalence: a reference written
with only the public phonenumbers API (`parse`, `is_valid_number`, `number_type`, `carrier.name_for_number`)
must give the same answer as `parse_recipient` for generated digit strings and for every region's example
numbers, and the fast path, whenever it answers, must give what the slow path gives.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, carrier

from qasid.domain import phone
from qasid.domain.phone import (
    MAX_INPUT_LENGTH,
    REASONS,
    Recipient,
    Refusal,
    normalize_e164,
    operator_slug,
    parse_recipient,
)

KOREK_E164 = "+9647502171212"

# --- reference: the public phonenumbers API only --------------------------------------------------------

SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
TYPE_REASONS = {
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
}


def reference_readings(digits: str, region: str | None) -> list[tuple[str, str | None]]:
    """The documented reading order for "+digits", "00digits" or bare digits, as (text, region) to parse."""
    if digits.startswith("+"):
        return [(digits, None)]
    if digits.startswith("00"):
        return [("+" + digits[2:], None)]
    international: list[tuple[str, str | None]] = (
        [("+" + digits, None)] if digits[:1] in set("123456789") else []
    )
    return international if region is None else [(digits, region), *international]


def reference_failure(text: str, region: str | None) -> str:
    try:
        phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return "unparsable" if exc.error_type == NumberParseException.NOT_A_NUMBER else "invalid_number"
    return "invalid_number"


def reference(digits: str, region: str | None) -> Recipient | str:
    """The plain recipe: parse, is_valid_number, number_type, name_for_number. A str is a refusal reason."""
    if not any(char.isdigit() for char in digits):
        return "unparsable"
    readings = reference_readings(digits, region)
    for text, reading_region in readings:
        try:
            number = phonenumbers.parse(text, reading_region)
        except NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        number_type = phonenumbers.number_type(number)
        if number_type not in SMS_TYPES:
            return TYPE_REASONS.get(number_type, "not_mobile")
        name = carrier.name_for_number(number, "en") or None
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        country = phonenumbers.region_code_for_number(number)
        assert country is not None
        return Recipient(e164, country, operator_slug(name) if name else None, name)
    reason = reference_failure(*readings[0]) if readings else "missing_country_code"
    bare = not digits.startswith(("+", "00"))
    return "missing_country_code" if bare and region is None and reason != "unparsable" else reason


def outcome(result: Recipient | Refusal) -> Recipient | str:
    return result.reason if isinstance(result, Refusal) else result


def accepted(raw: str, region: str | None = None) -> Recipient:
    result = parse_recipient(raw, region)
    assert isinstance(result, Recipient), result
    return result


def refused(raw: str, region: str | None = None) -> Refusal:
    result = parse_recipient(raw, region)
    assert isinstance(result, Refusal), result
    return result


# --- generated inputs -----------------------------------------------------------------------------------

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
ALL_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)


def example_numbers() -> list[phonenumbers.PhoneNumber]:
    """Every region's and every non-geographic code's example number of every type it has."""
    found = [phonenumbers.example_number_for_type(region, kind) for region in REGIONS for kind in ALL_TYPES]
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        found.append(phonenumbers.example_number_for_non_geo_entity(code))
    return [number for number in found if number is not None]


EXAMPLES = example_numbers()


def home_region(number: phonenumbers.PhoneNumber) -> str | None:
    region = phonenumbers.region_code_for_number(number)
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


# (country code, national significant number, region or None for non-geographic codes)
EXAMPLE_NSNS = [
    (number.country_code, phonenumbers.national_significant_number(number), home_region(number))
    for number in EXAMPLES
]
DIGITS = "0123456789"
# National prefixes written after the country code: "+44 0...", Russia's 8, NANPA's 1, Argentina's 15 and 9.
trunks = st.one_of(st.just(""), st.just(""), st.sampled_from(["0", "00", "1", "8", "9", "15", "015"]))
dial_prefixes = st.sampled_from(["+", "00", ""])
any_region = st.one_of(st.none(), st.just("IQ"), st.sampled_from(REGIONS))
Case = tuple[str, str | None]


@st.composite
def near_examples(draw: st.DrawFn) -> Case:
    """An example number with up to four trailing digits redrawn (often still valid), in a random form:
    "+", "00" or bare country code, optional national prefix after it, or national with a default region."""
    code, nsn, home = draw(st.sampled_from(EXAMPLE_NSNS))
    redrawn = draw(st.integers(0, min(4, len(nsn))))
    size = max(0, redrawn + draw(st.sampled_from([0, 0, 0, -1, 1])))
    nsn = nsn[: len(nsn) - redrawn] + draw(st.text(alphabet=DIGITS, min_size=size, max_size=size))
    trunk = draw(trunks)
    if home is not None and draw(st.booleans()):
        return f"{trunk}{nsn}", draw(st.one_of(st.just(home), st.just(home), any_region))
    return f"{draw(dial_prefixes)}{code}{trunk}{nsn}", draw(st.one_of(any_region, st.just(home)))


@st.composite
def random_numbers(draw: st.DrawFn) -> Case:
    """A random country code, an optional national prefix, random national digits of random length."""
    code = draw(st.sampled_from(COUNTRY_CODES))
    digits = draw(st.text(alphabet=DIGITS, max_size=18))
    return f"{draw(dial_prefixes)}{code}{draw(trunks)}{digits}", draw(any_region)


@st.composite
def random_digits(draw: st.DrawFn) -> Case:
    return draw(dial_prefixes) + draw(st.text(alphabet=DIGITS, max_size=20)), draw(any_region)


cases = st.one_of(near_examples(), near_examples(), near_examples(), random_numbers(), random_digits())


@st.composite
def separated_cases(draw: st.DrawFn) -> Case:
    """A case with spaces, dashes, dots and parentheses inserted anywhere, as people type numbers."""
    raw, region = draw(cases)
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([" ", "-", ".", "(", ")", "  "])) + raw[at:]
    return raw, region


# --- behaviour ------------------------------------------------------------------------------------------


class TestIraqiForms:
    def test_e164(self) -> None:
        assert accepted("+9647502171212").e164 == KOREK_E164

    def test_international_without_plus_and_no_default_region(self) -> None:
        assert parse_recipient("9647502171212", None) == parse_recipient(KOREK_E164, None)

    def test_international_without_plus_and_iraq_as_default_region(self) -> None:
        assert parse_recipient("9647502171212", "IQ") == parse_recipient(KOREK_E164, None)

    def test_double_zero_prefix_with_a_space(self) -> None:
        assert parse_recipient("00964 7502171212", None) == parse_recipient(KOREK_E164, None)

    def test_national_format_with_iraq_as_default_region(self) -> None:
        assert parse_recipient("07502171212", "IQ") == parse_recipient(KOREK_E164, None)

    def test_punctuation_is_ignored(self) -> None:
        assert parse_recipient("(0750) 217-12.12", "IQ") == parse_recipient(KOREK_E164, None)

    def test_double_zero_split_by_a_space(self) -> None:
        assert parse_recipient("0 0964 750 217 1212", None) == parse_recipient(KOREK_E164, None)

    def test_arabic_indic_digits(self) -> None:
        arabic_indic = "".join(chr(0x0660 + int(digit)) for digit in "07502171212")
        assert parse_recipient(arabic_indic, "IQ") == parse_recipient(KOREK_E164, None)

    def test_lowercase_default_region(self) -> None:
        assert parse_recipient("07502171212", "iq") == parse_recipient(KOREK_E164, None)

    def test_country_is_iraq(self) -> None:
        assert parse_recipient(KOREK_E164, None) == Recipient(KOREK_E164, "IQ", "korek", "Korek")


class TestIraqiOperators:
    @pytest.mark.parametrize(
        ("national", "slug", "name"),
        [
            ("07502171212", "korek", "Korek"),
            ("07512171212", "korek", "Korek"),
            ("07702171212", "asiacell", "Asiacell"),
            ("07712171212", "asiacell", "Asiacell"),
            ("07802171212", "zain", "Zain"),
            ("07902171212", "zain", "Zain"),
        ],
    )
    def test_operator_from_prefix(self, national: str, slug: str, name: str) -> None:
        recipient = accepted(national, "IQ")
        assert (recipient.operator, recipient.operator_name) == (slug, name)


class TestRefusals:
    def test_baghdad_landline(self) -> None:
        assert outcome(parse_recipient("+964 1 537 2222", None)) == "landline"

    def test_uk_premium_rate(self) -> None:
        assert outcome(parse_recipient("+44 909 876 5432", None)) == "premium_rate"

    def test_toll_free(self) -> None:
        assert outcome(parse_recipient("+1 800 555 1234", None)) == "toll_free"

    def test_too_short(self) -> None:
        assert outcome(parse_recipient("+96475021712", None)) == "invalid_number"

    def test_too_long(self) -> None:
        assert outcome(parse_recipient("+964750217121212", None)) == "invalid_number"

    def test_longer_than_any_phone_number(self) -> None:
        assert outcome(parse_recipient("+9647502171212123456789", None)) == "invalid_number"

    def test_unknown_country_code(self) -> None:
        assert outcome(parse_recipient("+999 7502171212", None)) == "invalid_number"

    def test_letters(self) -> None:
        assert outcome(parse_recipient("call me maybe", "IQ")) == "unparsable"

    def test_letters_inside_digits(self) -> None:
        assert outcome(parse_recipient("+964750ABC1212", None)) == "unparsable"

    def test_no_digits(self) -> None:
        assert outcome(parse_recipient("+-()", "IQ")) == "unparsable"

    def test_extension(self) -> None:
        assert outcome(parse_recipient("+9647502171212;5", None)) == "unparsable"

    def test_national_format_without_default_region(self) -> None:
        assert outcome(parse_recipient("07502171212", None)) == "missing_country_code"

    def test_input_longer_than_32_characters(self) -> None:
        raw = "+964 750 217 1212" + " " * 16
        assert (len(raw), outcome(parse_recipient(raw, "IQ"))) == (MAX_INPUT_LENGTH + 1, "unparsable")

    def test_input_is_echoed_unchanged(self) -> None:
        raw = "  +44 (909) 876-5432 "
        assert refused(raw, "IQ").input == raw

    def test_detail_is_a_sentence(self) -> None:
        assert refused("+964 1 537 2222").detail == "+96415372222 is a landline and cannot receive SMS."

    def test_reason_codes_are_stable(self) -> None:
        expected = {"unparsable", "invalid_number", "missing_country_code", "landline", "premium_rate"}
        expected |= {"toll_free", "shared_cost", "voip", "not_mobile"}
        assert expected == REASONS


class TestOtherCountries:
    def test_us_number_is_fixed_line_or_mobile_and_accepted(self) -> None:
        assert parse_recipient("+1 201 555 0123", None) == Recipient("+12015550123", "US", None, None)

    def test_national_prefix_after_country_code(self) -> None:
        assert accepted("+44 07400 123456").e164 == "+447400123456"

    def test_region_of_shared_country_code(self) -> None:
        assert accepted("+1 416 555 0123").country == "CA"

    def test_foreign_number_without_plus_and_iraq_as_default_region(self) -> None:
        assert accepted("4915123456789", "IQ").e164 == "+4915123456789"

    def test_idd_of_the_default_region(self) -> None:
        assert accepted("011 49 1512 3456789", "US").e164 == "+4915123456789"

    def test_unknown_default_region_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="XX"):
            parse_recipient(KOREK_E164, "XX")


class TestNormalizeE164:
    def test_landline(self) -> None:
        assert normalize_e164("+964 1 537 2222") == "+96415372222"

    def test_italian_leading_zero_is_kept(self) -> None:
        assert normalize_e164("+39 06 6982 1234") == "+390669821234"

    def test_national_with_default_region(self) -> None:
        assert normalize_e164("07502171212", "IQ") == KOREK_E164

    def test_junk(self) -> None:
        assert normalize_e164("not a number") is None

    def test_invalid_number(self) -> None:
        assert normalize_e164("+96475") is None


class TestOperatorSlug:
    @pytest.mark.parametrize(
        ("name", "slug"),
        [
            ("Asiacell", "asiacell"),
            ("ITC Fanoos", "itc-fanoos"),
            ("Kcell/Activ", "kcell-activ"),
            ("  China  Mobile ", "china-mobile"),
            ("OnOff Télécom SASU", "onoff-telecom-sasu"),
        ],
    )
    def test_slug(self, name: str, slug: str) -> None:
        assert operator_slug(name) == slug


# --- the fast path is the slow path, faster --------------------------------------------------------------


class TestFastPathEquivalence:
    @settings(max_examples=2000, deadline=None)
    @given(case=cases)
    @example(case=("+390612345678", None))  # Italian leading zero
    @example(case=("+4407400123456", None))  # national prefix after the country code
    @example(case=("+5491123456789", None))  # Argentina: transform rule
    @example(case=("0111523456789", "AR"))  # Argentina: 15 rewritten to 9
    @example(case=("011491512345678", "US"))  # IDD of the default region
    @example(case=("9647502171212", "IQ"))
    @example(case=("+881631234567", None))  # non-geographic +881
    def test_matches_the_public_api_reference(self, case: Case) -> None:
        raw, region = case
        assert outcome(parse_recipient(raw, region)) == reference(raw, region)

    @settings(max_examples=2000, deadline=None)
    @given(case=separated_cases())
    @example(case=("0 0964 750 217 1212", None))
    @example(case=("+44 (0) 7400 123456", None))
    def test_fast_path_answers_what_the_slow_path_answers(self, case: Case) -> None:
        raw, region = case
        text = raw.translate(phone._SEPARATORS)
        fast = phone._find_fast(text, region)
        assert fast is None or fast == phone._find_slow(raw, text, region)

    @settings(max_examples=2000, deadline=None)
    @given(case=cases)
    @example(case=("9647502171212", "IQ"))  # the region's own country code without "+"
    @example(case=("07502171212", "IQ"))
    @example(case=("4407400123456", None))
    @example(case=("+3758011234567", None))  # Belarus 801...: "8" is a national prefix, but not here
    @example(case=("78001234567", "RU"))  # Russia 800... after the country code, no "+"
    def test_fast_readings_replay_phonenumbers_parse(self, case: Case) -> None:
        """Each reading the fast path makes is what phonenumbers.parse gives for the same text, or None."""
        raw, region = case
        digits = raw.removeprefix("+").removeprefix("00")
        readings: list[tuple[tuple[int, str] | None, str, str | None]] = []
        if digits:
            readings.append((phone._fast_international(digits), "+" + digits, None))
        if region is not None and digits and raw == digits:
            readings.append((phone._fast_national(digits, region), digits, region))
        for fast, text, reading_region in readings:
            if fast is not None:
                number = phonenumbers.parse(text, reading_region)
                assert fast == (number.country_code, phonenumbers.national_significant_number(number))

    def test_example_numbers_of_every_region_and_type(self) -> None:
        mismatches = []
        for code, nsn, home in EXAMPLE_NSNS:
            forms = [(f"+{code}{nsn}", None), (f"00{code}{nsn}", "IQ"), (f"{code}{nsn}", None)]
            forms += [(f"{code}{nsn}", home), (nsn, home), (f"0{nsn}", home), (f"+{code}0{nsn}", None)]
            mismatches += [
                (raw, reg) for raw, reg in forms if outcome(parse_recipient(raw, reg)) != reference(raw, reg)
            ]
        assert mismatches == []

    def test_example_mobiles_take_the_fast_path(self) -> None:
        mobiles = [phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE) for region in REGIONS]
        e164s = [phonenumbers.format_number(n, PhoneNumberFormat.E164) for n in mobiles if n is not None]
        slow = [raw for raw in e164s if phone._find_fast(raw, None) is None]
        assert slow == []

    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("+9647502171212", None),
            ("9647502171212", None),
            ("9647502171212", "IQ"),
            ("07502171212", "IQ"),
            ("00964 750 217 1212", None),
            ("+964 (750) 217-1212", None),
        ],
    )
    def test_clean_iraqi_forms_take_the_fast_path(self, raw: str, region: str | None) -> None:
        assert phone._find_fast(raw.translate(phone._SEPARATORS), region) is not None

    def test_type_alone_decides_validity(self) -> None:
        """is_valid_number is number_type != UNKNOWN plus "the region's country code is the number's"."""
        mismatched = [
            (code, region)
            for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
            for region in regions
            if region != "001" and phonenumbers.country_code_for_region(region) != code
        ]
        assert mismatched == []


class TestMask:
    def test_the_subscriber_is_hidden(self):
        assert phone.mask("+9647701234567") == "+96477******67"

    def test_short_input_is_hidden_whole(self):
        assert phone.mask("12345") == "*****"


class TestKeptAnswers:
    def test_a_number_parsed_again_is_answered_from_memory(self, monkeypatch):
        first = parse_recipient("07502171212", "IQ")

        def not_again(*_):
            raise AssertionError("parsed again")

        monkeypatch.setattr(phone, "_find", not_again)
        assert parse_recipient("07502171212", "IQ") == first == Recipient(KOREK_E164, "IQ", "korek", "Korek")

    def test_the_default_region_is_part_of_what_is_remembered(self):
        assert isinstance(parse_recipient("07502171212", "IQ"), Recipient)
        refused = parse_recipient("07502171212", None)
        assert isinstance(refused, Refusal)
        assert refused.reason == "missing_country_code"

    def test_input_too_long_for_a_number_is_not_kept(self):
        before = phone._parse_kept.cache_info().currsize
        refused = parse_recipient("1" * (MAX_INPUT_LENGTH + 1), "IQ")
        assert isinstance(refused, Refusal)
        assert refused.reason == "unparsable"
        assert phone._parse_kept.cache_info().currsize == before
