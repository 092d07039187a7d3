"""Text in and out of ``short_message``: data_coding, concatenation and the user data header.

Out: a message arrives at the connector already split into parts (``domain.encoding.split``: 153
GSM-7 septets or 67 UCS-2 units each when there are several). ``encode_message`` turns them into
submit_sm payloads:

- data_coding 0 (the SMSC's default alphabet, GSM 03.38): one septet per octet, or packed seven
  bits at a time when the connector says ``gsm_packed`` (after a header, with the fill bits of
  TS 23.040 §9.2.3.24 so the septets start on a septet boundary; 7 spare bits at the end are a CR,
  as TS 23.038 §6.1.2.3.1 asks, so they do not read as "@");
- data_coding 3 (Latin-1) or 1 (IA5/ASCII) when the connector is set to it and every character has a
  code there; otherwise UCS-2. Both re-split the text, since their parts hold other lengths (134 or
  140 octets of Latin-1, 67 or 70 UCS-2 units);
- data_coding 8 (UCS-2, UTF-16-BE) for everything that is not GSM-7.

Several parts go as concatenated messages with a user data header (IE 0x00: 8-bit reference,
total, sequence; esm_class UDHI 0x40), or with the SAR TLVs instead, or, as one submit_sm, the whole
text in ``message_payload``: the ``long_messages`` option of the connector.

In: ``decode_message`` reads any of these back (UDH IEs 0x00 and 0x08, the data_coding values
above, and the 0xF0-0xFF message class codings), for inbound messages and receipts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from qasid.channels.smpp import pdu as P
from qasid.domain.encoding import (
    decode_gsm7,
    encode_gsm7,
    encode_ucs2,
    pack_septets,
    unpack_septets,
)

UDHI = 0x40  # esm_class: short_message starts with a user data header
_CONCAT_HEADER = 6  # UDHL + IE 0x00 (id, length, reference, total, sequence)
_FILL_BITS = (7 - (_CONCAT_HEADER * 8) % 7) % 7


class DataCoding(IntEnum):
    DEFAULT = 0  # GSM 03.38 default alphabet
    IA5 = 1
    LATIN1 = 3
    OCTET = 4
    UCS2 = 8


class LongMessages(StrEnum):
    UDH = "udh"
    SAR = "sar"
    PAYLOAD = "payload"


@dataclass(frozen=True, slots=True)
class Part:
    """One submit_sm's worth: the payload, the esm_class bits it needs, and its TLVs."""

    short_message: bytes
    esm_class: int
    tlvs: P.Tlvs


@dataclass(frozen=True, slots=True)
class Encoded:
    data_coding: int
    parts: list[Part]


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    reference: int | None = None  # concatenation: the sender's reference for the message
    total: int = 1
    sequence: int = 1


def encode_message(
    parts: Sequence[str],
    encoding: str,
    *,
    default_data_coding: int = DataCoding.DEFAULT,
    gsm_packed: bool = False,
    long_messages: LongMessages = LongMessages.UDH,
    reference: int = 0,
) -> Encoded:
    """The submit_sm payloads for a message split into ``parts`` (``encoding``: gsm7 or ucs2)."""
    text = "".join(parts)
    coding, chunks = _choose(parts, text, encoding, default_data_coding)
    if long_messages == LongMessages.PAYLOAD:
        body = _encode(text, coding, gsm_packed=gsm_packed, fill_bits=0)
        return Encoded(coding, [Part(b"", 0, {P.Tag.MESSAGE_PAYLOAD: body})])
    if len(chunks) == 1:
        return Encoded(coding, [Part(_encode(chunks[0], coding, gsm_packed=gsm_packed, fill_bits=0), 0, {})])
    total, ref8 = len(chunks), reference & 0xFF
    if long_messages == LongMessages.SAR:
        return Encoded(
            coding,
            [
                Part(
                    _encode(chunk, coding, gsm_packed=gsm_packed, fill_bits=0), 0, _sar(reference, total, seq)
                )
                for seq, chunk in enumerate(chunks, start=1)
            ],
        )
    return Encoded(
        coding,
        [
            Part(
                bytes([5, 0, 3, ref8, total, seq])
                + _encode(chunk, coding, gsm_packed=gsm_packed, fill_bits=_FILL_BITS),
                UDHI,
                {},
            )
            for seq, chunk in enumerate(chunks, start=1)
        ],
    )


def _choose(parts: Sequence[str], text: str, encoding: str, default: int) -> tuple[int, list[str]]:
    if encoding != "gsm7":
        return DataCoding.UCS2, list(parts)
    if default == DataCoding.DEFAULT:
        return DataCoding.DEFAULT, list(parts)
    charset = "ascii" if default == DataCoding.IA5 else "latin-1"
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return DataCoding.UCS2, split_units(text, 70, 67, ucs2=True)
    if default == DataCoding.IA5:
        return DataCoding.IA5, list(parts)  # the SMSC packs IA5 into septets: the GSM-7 lengths hold
    return DataCoding.LATIN1, split_units(text, 140, 134, ucs2=False)


def split_units(text: str, single: int, multi: int, *, ucs2: bool) -> list[str]:
    """``text`` in parts of at most ``single`` units (or ``multi`` each when it needs several); a
    unit is an octet, or with ``ucs2`` a UTF-16 code unit (a pair never straddles two parts)."""
    sizes = [2 if ucs2 and ord(c) > 0xFFFF else 1 for c in text]
    if sum(sizes) <= single:
        return [text]
    parts, start, used = [], 0, 0
    for index, size in enumerate(sizes):
        if used + size > multi:
            parts.append(text[start:index])
            start, used = index, 0
        used += size
    parts.append(text[start:])
    return parts


def _encode(text: str, coding: int, *, gsm_packed: bool, fill_bits: int) -> bytes:
    if coding == DataCoding.DEFAULT:
        septets = encode_gsm7(text)
        if not gsm_packed:
            return septets
        bits = (fill_bits + 7 * len(septets)) % 8
        if bits == 1:  # 7 spare bits would read as "@": pad with CR
            septets += b"\r"
        elif bits == 0 and septets.endswith(b"\r"):
            # TS 23.038 §6.1.2.3.1: a wanted CR that ends on an octet boundary would be taken for
            # padding; it is doubled (a phone shows CR twice, which the standard calls harmless).
            septets += b"\r"
        return pack_septets(septets, fill_bits)
    if coding == DataCoding.IA5:
        return text.encode("ascii")
    if coding == DataCoding.LATIN1:
        return text.encode("latin-1")
    return encode_ucs2(text)


def _sar(reference: int, total: int, sequence: int) -> P.Tlvs:
    return {
        P.Tag.SAR_MSG_REF_NUM: P.int_tlv(reference & 0xFFFF, 2),
        P.Tag.SAR_TOTAL_SEGMENTS: P.int_tlv(total, 1),
        P.Tag.SAR_SEGMENT_SEQNUM: P.int_tlv(sequence, 1),
    }


def decode_message(pdu: P.ShortMessage | P.DataSm, *, gsm_packed: bool = False) -> Decoded:
    """The text of a deliver_sm or data_sm, and where it belongs if it is one part of several."""
    payload = pdu.tlvs.get(P.Tag.MESSAGE_PAYLOAD)
    if payload is None:
        payload = pdu.short_message if isinstance(pdu, P.ShortMessage) else b""
    reference, total, sequence, fill_bits = None, 1, 1, 0
    if pdu.esm_class & UDHI and payload:
        header_length = payload[0]
        reference, total, sequence = _concatenation(payload[1 : 1 + header_length])
        payload = payload[1 + header_length :]
        fill_bits = (7 - ((header_length + 1) * 8) % 7) % 7
    elif (sar := P.tlv_int(pdu.tlvs, P.Tag.SAR_MSG_REF_NUM)) is not None:
        reference = sar
        total = P.tlv_int(pdu.tlvs, P.Tag.SAR_TOTAL_SEGMENTS) or 1
        sequence = P.tlv_int(pdu.tlvs, P.Tag.SAR_SEGMENT_SEQNUM) or 1
    text = decode_text(pdu.data_coding, payload, gsm_packed=gsm_packed, fill_bits=fill_bits)
    return Decoded(text, reference, total, sequence)


def decode_text(data_coding: int, data: bytes, *, gsm_packed: bool = False, fill_bits: int = 0) -> str:
    """Text from user data; never raises (what cannot be read shows as U+FFFD or Latin-1)."""
    if data_coding & 0xF0 == 0xF0:  # message class coding: bit 2 chooses 8-bit data over GSM
        data_coding = DataCoding.OCTET if data_coding & 0x04 else DataCoding.DEFAULT
    if data_coding == DataCoding.DEFAULT:
        if gsm_packed:
            count, spare = divmod(len(data) * 8 - fill_bits, 7)
            data = unpack_septets(data, count, fill_bits)
            if spare == 0 and data.endswith(b"\r"):  # TS 23.038 §6.1.2.3.1: a CR filling 7 spare bits
                data = data[:-1]
        if data.isascii():
            return decode_gsm7(data)
        return data.decode("latin-1")  # a peer that sent Latin-1 under data_coding 0
    if data_coding == DataCoding.UCS2:
        return data[: len(data) // 2 * 2].decode("utf-16-be", "replace")  # a lone surrogate shows as U+FFFD
    if data_coding == DataCoding.IA5:
        return data.decode("ascii", "replace")
    return data.decode("latin-1")


def _concatenation(header: bytes) -> tuple[int | None, int, int]:
    """(reference, total, sequence) from the concatenation IE of a user data header, if any."""
    index = 0
    while index + 2 <= len(header):
        ie, size = header[index], header[index + 1]
        value = header[index + 2 : index + 2 + size]
        if ie == 0x00 and size == 3:
            return value[0], value[1], value[2]
        if ie == 0x08 and size == 4:
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        index += 2 + size
    return None, 1, 1
