"""Delivery receipts: telling them from inbound messages, reading them, and matching their ids.

A deliver_sm or data_sm is a receipt when its esm_class says so (message type bits 2-5: 0001 an
SMSC delivery receipt, 1000 an intermediate notification); anything else is an inbound message.
A receipt says what happened in two places, and SMSCs fill either or both:

- the text of SMPP 3.4 Appendix B: ``id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done
  date:YYMMDDhhmm stat:DDDDDDD err:E text:...`` (read leniently: any order, any case, fields missing);
- the TLVs ``receipted_message_id``, ``message_state`` and ``network_error_code``.

The TLVs win where both are present. A receipt whose id cannot be found in either is not a receipt
Qasid can use (``None``).

Ids: the submit_sm_resp gives a message id and the receipt names it again, but SMSCs differ in how:
the same id may come as hex in one and decimal in the other, or zero-padded. Each connector says
how its SMSC writes each (``IdFormat``: ``text`` as it is, ``hex`` or ``dec`` as a number), and
``canonical`` turns both into the same key: a number's decimal digits without padding, or the text
without surrounding blanks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.text import decode_text
from qasid.domain.states import MessageStatus, from_smpp_message_state, from_smpp_stat

_MESSAGE_TYPE = 0x3C  # esm_class bits 2-5
_RECEIPT_TYPES = (0x04, 0x20)  # SMSC delivery receipt, intermediate delivery notification
_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text)\s*:\s*", re.IGNORECASE)


class IdFormat(StrEnum):
    TEXT = "text"
    HEX = "hex"
    DEC = "dec"


def canonical(message_id: str, kind: IdFormat) -> str:
    """The key a message id is matched by (see the module doc); text when it is not a number."""
    value = message_id.strip().strip("\0").strip()
    if kind == IdFormat.TEXT:
        return value
    try:
        return str(int(value, 16 if kind == IdFormat.HEX else 10))
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str  # as the SMSC wrote it
    status: MessageStatus
    error_code: str | None
    raw: str  # the receipt as it came: its text, and the TLVs that said something


def is_receipt(esm_class: int) -> bool:
    return esm_class & _MESSAGE_TYPE in _RECEIPT_TYPES


def read_receipt(pdu: P.ShortMessage | P.DataSm) -> Receipt | None:
    """What a receipt says, or None when it names no message or no state."""
    body = pdu.tlvs.get(P.Tag.MESSAGE_PAYLOAD)
    if body is None:
        body = pdu.short_message if isinstance(pdu, P.ShortMessage) else b""
    text = decode_text(pdu.data_coding, body) if body else ""
    message_id = P.tlv_text(pdu.tlvs, P.Tag.RECEIPTED_MESSAGE_ID)
    state = P.tlv_int(pdu.tlvs, P.Tag.MESSAGE_STATE)
    status = from_smpp_message_state(state) if state is not None else None
    needs_text = not message_id or status is None or status != MessageStatus.DELIVERED
    fields = appendix_b(text) if needs_text else {}  # the TLVs alone say a delivery: no regex
    message_id = message_id or fields.get("id")
    if status is None and "stat" in fields:
        status = from_smpp_stat(fields["stat"])
    if status is None or not message_id:
        return None
    return Receipt(message_id, status, _error(fields, pdu.tlvs), _raw(text, pdu.tlvs))


def appendix_b(text: str) -> dict[str, str]:
    """The fields of an Appendix B receipt text, by lower-case name (``text`` runs to the end)."""
    found: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for index, match in enumerate(matches):
        name = " ".join(match.group(1).lower().split())
        end = matches[index + 1].start() if index + 1 < len(matches) and name != "text" else len(text)
        value = text[match.end() : end]
        found.setdefault(name, value if name == "text" else value.strip())
        if name == "text":
            break
    return found


def _error(fields: dict[str, str], tlvs: P.Tlvs) -> str | None:
    network = tlvs.get(P.Tag.NETWORK_ERROR_CODE)
    if network is not None and len(network) == 3:  # type (1: ANSI-136, 2: IS-95, 3: GSM), code
        return f"{network[0]}:{int.from_bytes(network[1:], 'big'):03d}"
    err = fields.get("err")
    return err or None


def _raw(text: str, tlvs: P.Tlvs) -> str:
    parts = [text] if text else []
    for tag in (P.Tag.RECEIPTED_MESSAGE_ID, P.Tag.MESSAGE_STATE, P.Tag.NETWORK_ERROR_CODE):
        if tag in tlvs:
            name = tag.name.lower()
            value = P.tlv_text(tlvs, tag) if tag == P.Tag.RECEIPTED_MESSAGE_ID else tlvs[tag].hex()
            parts.append(f"{name}={value}")
    return " | ".join(parts)
