"""Inbound messages (MO) as the SMSC delivers them: sender, recipient and text, part by part."""

from __future__ import annotations

from datetime import UTC, datetime

from qasid.channels.base import Inbound
from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.text import decode_message

TON_INTERNATIONAL = 1


def read_inbound(connector_id: str, pdu: P.ShortMessage | P.DataSm, *, gsm_packed: bool = False) -> Inbound:
    decoded = decode_message(pdu, gsm_packed=gsm_packed)
    return Inbound(
        connector_id=connector_id,
        sender=_address(pdu.source_addr, pdu.source_addr_ton),
        recipient=_address(pdu.destination_addr, pdu.dest_addr_ton),
        text=decoded.text,
        received_at=datetime.now(UTC),
        reference=decoded.reference,
        total=decoded.total,
        sequence=decoded.sequence,
    )


def _address(value: str, ton: int) -> str:
    """International numbers as E.164; anything else (short codes, names) as it came."""
    digits = value.removeprefix("+")
    if digits.isdigit() and (ton == TON_INTERNATIONAL or value.startswith("+")):
        return "+" + digits
    return value
