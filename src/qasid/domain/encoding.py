"""SMS text encoding and segment counting.

Pure functions, no I/O. A text is sent in the GSM 7-bit default alphabet when every character is in
the default alphabet or its extension table, and in UCS-2 (UTF-16-BE on the wire) otherwise. National
language shift tables are deliberately not used.

References:

* 3GPP TS 23.038 §6.2.1: the GSM 7-bit default alphabet (128 characters, 0x1B is the escape).
* 3GPP TS 23.038 §6.2.1.1: the default alphabet extension table reached through the escape. Only the
  characters ``^ { } \\ [ ~ ] | €`` and the form feed (page break) may be produced from text; each
  costs two septets. On receipt, an escape followed by a code that is not in the extension table is
  shown as the default-alphabet character for that code, and escape-escape (reserved for a further
  extension table) is shown as a space.
* 3GPP TS 23.038 §6.1.2.1: packing of 7-bit characters into octets, least significant bit first.
* 3GPP TS 23.040 §9.2.3.24.1: concatenated short messages. The 6-octet user data header (UDHL plus
  the 8-bit-reference IE) leaves 153 septets or 67 UCS-2 code units per part, against 160 and 70 for
  a text that fits in a single message. TS 23.040 §9.2.3.24 adds fill bits after a header so that the
  septets start on a septet boundary (``fill_bits`` below).

A part never ends between an escape and its extension character, nor inside a UTF-16 surrogate pair:
parts are Python strings, so they always end on a code point, and an extension character or a
character outside the Basic Multilingual Plane counts as 2 units wherever it falls. Splitting is
greedy, and :func:`analyze` reports exactly as many segments as :func:`split` returns parts.

Speed of :func:`analyze`, measured with ``timeit`` (best of 7 x 20,000 calls, CPython 3.11.7 on a
shared 2-vCPU virtual machine; expect less on a workstation):

* 160-character ASCII text (1 part): 0.9 µs, of which 0.4 µs is the GSM-7 check;
* 70-character Arabic text (1 part): 1.6 µs, of which 0.4 µs is the GSM-7 check;
* 160-character German text with umlauts: 1.5 µs; 300-character text with 50 extension
  characters (2 parts): 9 µs.

No path loops over the characters in Python: ASCII text is checked and counted with
``bytes.translate``, other text with compiled regular expressions (a negated character class finds the
first character outside the set), UCS-2 units come from the UTF-16 encoder, and the boundaries of a
multi-part text that holds 2-unit characters are found by a binary search on ``bytes.count`` over a
per-character flag string built by ``bytes.translate``.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

__all__ = [
    "GSM7_CHARACTERS",
    "Encoding",
    "TextInfo",
    "analyze",
    "decode_gsm7",
    "decode_ucs2",
    "encode_gsm7",
    "encode_ucs2",
    "pack_septets",
    "split",
    "unpack_septets",
]

ESCAPE = 0x1B

# TS 23.038 §6.2.1, indexed by septet value, 16 per row. Non-ASCII characters are written as escapes
# so that look-alikes (e.g. U+2126 OHM SIGN for U+03A9 GREEK CAPITAL LETTER OMEGA) cannot slip in.
# Position 0x1B is the escape, which no text character maps to.
_DEFAULT_ALPHABET = (
    # @ £ $ ¥ è é ù ì ò Ç LF Ø ø CR Å å
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"
    # Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ ESC Æ æ ß É
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1b\u00c6\u00e6\u00df\u00c9"
    " !\"#\u00a4%&'()*+,-./"  # ¤ at 0x24
    "0123456789:;<=>?"
    "\u00a1ABCDEFGHIJKLMNO"  # ¡ at 0x40
    "PQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"  # ÄÖÑÜ§
    "\u00bfabcdefghijklmno"  # ¿ at 0x60
    "pqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"  # äöñüà
)

# TS 23.038 §6.2.1.1: the characters reachable as ESC + code. 0x0A is the page break (form feed).
_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "\u20ac",  # €
}

_SINGLE_CHARS = frozenset(_DEFAULT_ALPHABET) - {chr(ESCAPE)}
_EXTENSION_CHARS = frozenset(_EXTENSION.values())
GSM7_CHARACTERS: frozenset[str] = _SINGLE_CHARS | _EXTENSION_CHARS
"""Every character that can be sent in the GSM 7-bit default alphabet (without shift tables)."""

# Fast paths for the encoding check (see the module docstring).
_ASCII_SINGLE = bytes(sorted(ord(c) for c in _SINGLE_CHARS if c.isascii()))
_ASCII_EXTENSION = bytes(sorted(ord(c) for c in _EXTENSION_CHARS if c.isascii()))
_NOT_SINGLE_RE = re.compile("[^" + re.escape("".join(sorted(_SINGLE_CHARS))) + "]")
_NOT_GSM_RE = re.compile("[^" + re.escape("".join(sorted(GSM7_CHARACTERS))) + "]")
# Byte tables marking the 2-unit characters with 1 (see _double_flags).
_EXTENSION_FLAGS = bytes(1 if chr(i) in _EXTENSION_CHARS else 0 for i in range(256))
_NONZERO_FLAGS = bytes([0] + [1] * 255)

_ENCODE_TABLE = str.maketrans(
    {c: chr(i) for i, c in enumerate(_DEFAULT_ALPHABET) if i != ESCAPE}
    | {c: chr(ESCAPE) + chr(code) for code, c in _EXTENSION.items()}
)
_DECODE_TABLE = str.maketrans({chr(i): c for i, c in enumerate(_DEFAULT_ALPHABET)})
_DECODE_TOKEN_RE = re.compile("\x1b[\x00-\x7f]?|[^\x1b]+")


class Encoding(enum.StrEnum):
    """Data coding of a short message."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


# (units in a single message, units per part of a concatenated message)
_LIMITS: dict[Encoding, tuple[int, int]] = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


@dataclass(frozen=True, slots=True)
class TextInfo:
    """How a text will be sent.

    ``units`` are septets for GSM-7 (an extension character counts 2) and UTF-16 code units for UCS-2
    (a character outside the Basic Multilingual Plane, such as most emoji, counts 2). ``characters``
    is ``len(text)``, in code points.
    """

    encoding: Encoding
    units: int
    segments: int
    characters: int


# Constructing a frozen dataclass (one object.__setattr__ per field) costs more than the encoding check
# itself. TextInfo is immutable and the same few values recur, so analyze() shares cached instances.
_text_info = functools.lru_cache(maxsize=4096)(TextInfo)


def analyze(text: str) -> TextInfo:
    """Encoding, size and number of message parts of ``text``; an empty text is 1 part of 0 units."""
    encoding, units = _measure(text)
    return _text_info(encoding, units, _count_parts(text, encoding, units), len(text))


def split(text: str) -> list[str]:
    """The parts ``text`` is sent as, in order; ``"".join(split(text)) == text``.

    Each part is as long as it can be (greedy) without exceeding 160 septets / 70 UCS-2 units for a
    single message, or 153 / 67 per part of a concatenated one. A 2-unit character that does not fit
    at the end of a part starts the next one.
    """
    encoding, units = _measure(text)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return [text]
    if units == len(text):
        return [text[start : start + multi] for start in range(0, len(text), multi)]
    ends = _part_ends(_double_flags(text, encoding), multi)
    return [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def encode_gsm7(text: str) -> bytes:
    """Unpacked septets, one per byte, with an escape (0x1B) before each extension character.

    Raises ``ValueError`` if ``text`` is not entirely in the GSM 7-bit default alphabet and its
    extension table.
    """
    if _gsm_doubles(text) < 0:
        bad = next(c for c in text if c not in GSM7_CHARACTERS)
        raise ValueError(f"character {bad!r} at index {text.index(bad)} is not in the GSM 7-bit alphabet")
    return text.translate(_ENCODE_TABLE).encode("ascii")


def decode_gsm7(data: bytes) -> str:
    """Text from unpacked septets (the inverse of :func:`encode_gsm7`).

    Per TS 23.038 §6.2.1.1, an escape followed by a code that is not in the extension table decodes
    as the default-alphabet character for that code, escape-escape (reserved for another extension
    table) decodes as a space and the code after it as usual, and a lone escape at the end decodes to
    nothing. Raises ``ValueError`` for a byte above 0x7F.
    """
    if not data.isascii():
        raise ValueError("GSM 7-bit septets must be below 0x80")
    return _DECODE_TOKEN_RE.sub(_decode_token, data.decode("ascii"))


def _decode_token(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] != "\x1b":
        return token.translate(_DECODE_TABLE)
    if len(token) == 1:
        return ""
    code = ord(token[1])
    if code == ESCAPE:
        return " "
    return _EXTENSION.get(code, _DEFAULT_ALPHABET[code])


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets into octets, least significant bit first (TS 23.038 §6.1.2.1).

    ``fill_bits`` (0-6) zero bits come first, as after a user data header (TS 23.040 §9.2.3.24).
    """
    _check_fill_bits(fill_bits)
    if not septets.isascii():
        raise ValueError("septets must be below 0x80")
    out = bytearray()
    buffer, bits = 0, fill_bits
    for septet in septets:
        buffer |= septet << bits
        bits += 7
        while bits >= 8:
            out.append(buffer & 0xFF)
            buffer >>= 8
            bits -= 8
    if bits:
        out.append(buffer)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The first ``count`` septets packed in ``data`` after ``fill_bits`` (0-6) fill bits.

    The inverse of :func:`pack_septets`. Raises ``ValueError`` if ``data`` is too short.
    """
    _check_fill_bits(fill_bits)
    if count < 0:
        raise ValueError("count must not be negative")
    needed = (fill_bits + 7 * count + 7) // 8
    if len(data) < needed:
        raise ValueError(f"{count} septets need {needed} octets, got {len(data)}")
    out = bytearray()
    buffer, bits, skip = 0, 0, fill_bits
    for octet in data[:needed]:
        buffer |= (octet >> skip) << bits
        bits += 8 - skip
        skip = 0
        while bits >= 7 and len(out) < count:
            out.append(buffer & 0x7F)
            buffer >>= 7
            bits -= 7
    return bytes(out)


def encode_ucs2(text: str) -> bytes:
    """UCS-2 user data: UTF-16-BE (a character outside the BMP becomes a surrogate pair)."""
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    """Text from UTF-16-BE user data (the inverse of :func:`encode_ucs2`)."""
    return data.decode("utf-16-be")


def _check_fill_bits(fill_bits: int) -> None:
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be between 0 and 6, got {fill_bits}")


def _measure(text: str) -> tuple[Encoding, int]:
    """Encoding and size in units (septets or UTF-16 code units)."""
    doubles = _gsm_doubles(text)
    if doubles >= 0:
        return Encoding.GSM7, len(text) + doubles
    # surrogatepass: a lone surrogate code point (not valid text, but a possible str) counts 1 unit.
    return Encoding.UCS2, len(text.encode("utf-16-le", "surrogatepass")) // 2


def _gsm_doubles(text: str) -> int:
    """Number of extension characters in ``text``, or -1 if ``text`` is not GSM-7."""
    if text.isascii():
        rest = text.encode("ascii").translate(None, _ASCII_SINGLE)
        if not rest:
            return 0
        return -1 if rest.translate(None, _ASCII_EXTENSION) else len(rest)
    first = _NOT_SINGLE_RE.search(text)
    if first is None:
        return 0
    if _NOT_GSM_RE.search(text, first.start()) is not None:
        return -1
    # The only non-ASCII extension character is the euro sign.
    return len(text.encode("ascii", "ignore").translate(None, _ASCII_SINGLE)) + text.count("\u20ac")


def _count_parts(text: str, encoding: Encoding, units: int) -> int:
    single, multi = _LIMITS[encoding]
    if units <= single:
        return 1
    if units == len(text):
        return -(-units // multi)
    return len(_part_ends(_double_flags(text, encoding), multi))


def _double_flags(text: str, encoding: Encoding) -> bytes:
    """One byte per character of ``text``: 1 if it costs 2 units in ``encoding``, else 0."""
    if encoding is Encoding.GSM7:
        # The text is GSM-7: "?" stands in for its non-ASCII single-septet characters.
        folded = text.replace("\u20ac", "^").encode("ascii", "replace")
        return folded.translate(_EXTENSION_FLAGS)
    # The third byte of a UTF-32-LE code unit is non-zero exactly for a code point above U+FFFF.
    return text.encode("utf-32-le", "surrogatepass")[2::4].translate(_NONZERO_FLAGS)


def _part_ends(flags: bytes, limit: int) -> list[int]:
    """End index (exclusive) of each greedy part of at most ``limit`` units."""
    ends: list[int] = []
    start = 0
    while start < len(flags):
        start = _greedy_end(flags, start, limit)
        ends.append(start)
    return ends


def _greedy_end(flags: bytes, start: int, limit: int) -> int:
    """Largest ``end`` such that the characters ``start:end`` cost at most ``limit`` units.

    Their cost is their number plus the number of 2-unit characters among them, which grows with
    ``end``, so a binary search finds the boundary. One character (at most 2 units) always fits, and
    no more than ``limit`` characters can.
    """
    low, high = start + 1, min(len(flags), start + limit)
    while low < high:
        middle = (low + high + 1) // 2
        if middle - start + flags.count(1, start, middle) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
