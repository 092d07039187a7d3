"""Recipients per second: `parse_recipient` against the plain phonenumbers recipe, in the same run.

    .venv/bin/python bench/phone.py [--count 50000] [--rounds 3] [--seconds 1.5] [--seed 964]

Generates COUNT distinct valid Iraqi mobile numbers (Korek 75x, Asiacell 77x, Zain 78x/79x) and writes
each of them in three forms: E.164 "+9647...", international without plus "9647...", national "07...";
plus two more: E.164 as people type it, "+964 750-217 1212" (separators are removed first, so still the
fast path), and national in Arabic-Indic digits (the slow path). Every form is parsed with default region
"IQ" by both implementations:

- fast: `qasid.domain.phone.parse_recipient`;
- plain: `phonenumbers.parse` + `is_valid_number` + `number_type` + `carrier.name_for_number`, plus the
  E.164 formatting and region lookup needed to give the same answer.

Each measurement stops after SECONDS even if the list is not exhausted, so the run is bounded (about
rounds x 10 x seconds). The rounds interleave the two implementations so that load from other processes
hits both; the best round of each is printed. Figures only, no asserts.
"""

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, carrier

from qasid.domain.phone import Recipient, parse_recipient

OPERATOR_PREFIXES = ("750", "751", "770", "771", "780", "781", "790", "791")
SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
CHECK_EVERY = 1000
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + digit) for digit in range(10)))


def iraqi_mobiles(count: int, seed: int) -> list[str]:
    """COUNT distinct national significant numbers, "7" + operator digits + 7 subscriber digits."""
    rng = random.Random(seed)
    per_prefix = 10**7
    picks = rng.sample(range(len(OPERATOR_PREFIXES) * per_prefix), count)
    return [f"{OPERATOR_PREFIXES[pick // per_prefix]}{pick % per_prefix:07d}" for pick in picks]


def plain(raw: str, region: str) -> tuple[str, str | None, str] | None:
    """The recipe we measured before writing the module: every public call, nothing skipped."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in SMS_TYPES:
        return None
    name = carrier.name_for_number(number, "en")
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number),
        name,
    )


def fast(raw: str, region: str) -> Recipient | None:
    result = parse_recipient(raw, region)
    return result if isinstance(result, Recipient) else None


def rate(
    parse: Callable[[str, str], object], inputs: Sequence[str], seconds: float
) -> tuple[float, int, int]:
    """(recipients per second, how many were parsed, how many were accepted), stopping after SECONDS."""
    gc.collect()
    accepted = done = 0
    start = time.perf_counter()
    deadline = start + seconds
    for begin in range(0, len(inputs), CHECK_EVERY):
        for raw in inputs[begin : begin + CHECK_EVERY]:
            if parse(raw, "IQ") is not None:
                accepted += 1
        done = min(begin + CHECK_EVERY, len(inputs))
        if time.perf_counter() > deadline:
            break
    return done / (time.perf_counter() - start), done, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000, help="distinct numbers per form")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is printed")
    parser.add_argument("--seconds", type=float, default=1.5, help="time limit of one measurement")
    parser.add_argument("--seed", type=int, default=964)
    args = parser.parse_args()

    nsns = iraqi_mobiles(args.count, args.seed)
    forms = {
        "E.164 +9647...": [f"+964{nsn}" for nsn in nsns],
        "international 9647...": [f"964{nsn}" for nsn in nsns],
        "national 07...": [f"0{nsn}" for nsn in nsns],
        "typed +964 750-217 1212": [f"+964 {nsn[:3]}-{nsn[3:6]} {nsn[6:]}" for nsn in nsns],
        "national, Arabic-Indic (slow path)": [f"0{nsn}".translate(ARABIC_INDIC) for nsn in nsns],
    }
    implementations: dict[str, Callable[[str, str], object]] = {"fast": fast, "plain": plain}
    for parse in implementations.values():  # warm up: metadata loading and pattern compilation
        for inputs in forms.values():
            rate(parse, inputs[:200], args.seconds)

    best: dict[tuple[str, str], tuple[float, int, int]] = {}
    for _ in range(args.rounds):
        for form, inputs in forms.items():
            for name, parse in implementations.items():
                measured = rate(parse, inputs, args.seconds)
                if measured[0] > best.get((form, name), (0.0, 0, 0))[0]:
                    best[(form, name)] = measured

    print(f"{args.count} distinct Iraqi mobiles per form, default region IQ, best of {args.rounds} rounds")
    print(f"{'form':34} {'fast/s':>10} {'us':>6} {'plain/s':>10} {'us':>6} {'ratio':>6}  parsed/accepted")
    for form in forms:
        fast_rate, fast_done, fast_ok = best[(form, "fast")]
        plain_rate, plain_done, plain_ok = best[(form, "plain")]
        fast_cell = f"{fast_rate:10,.0f} {1e6 / fast_rate:6.1f}"
        plain_cell = f"{plain_rate:10,.0f} {1e6 / plain_rate:6.1f}"
        counts = f"fast {fast_done}/{fast_ok}, plain {plain_done}/{plain_ok}"
        print(f"{form:34} {fast_cell} {plain_cell} {fast_rate / plain_rate:5.1f}x  {counts}")


if __name__ == "__main__":
    main()
