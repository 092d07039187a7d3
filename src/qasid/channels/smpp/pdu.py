"""SMPP 3.4 protocol data units: the bytes on the wire and back.

Every PDU is a 16-octet header (command_length, command_id, command_status, sequence_number, all
big-endian unsigned 32-bit) and a body. Bodies are made of fixed-size integers, C-Octet strings
(text ending in a NUL, with a maximum size that counts the NUL), octet strings whose length is
given by an earlier field, and at the end optional parameters (TLVs: tag, length, value).

``encode`` turns a PDU into a frame; ``decode`` a frame into a PDU, or raises ``PduError`` carrying
the command_status to answer with (``generic_nack`` or the response of that command), so a peer's
mistake is answered in its own protocol and never ends the session. Decoding is lenient where peers
are known to stray and nothing is lost by it: a C-Octet string longer than its maximum is taken
whole, and a response may omit its body (SMPP 3.4 allows it on errors; some peers always do). Encoding is
strict: a value that does not fit is a ``ValueError`` before anything is sent.

Strings are Latin-1 on the wire (addresses, ids and system fields are ASCII in practice; Latin-1
maps every octet, so decoding never fails). ``short_message`` and octet TLVs stay bytes: what they
mean depends on ``data_coding`` and ``esm_class`` (``qasid.channels.smpp.text``).

Reference: SMPP v3.4 specification, issue 1.2 (1999): §3.2 (header), §4 (PDUs), §5.1 (field
types), §5.2 (command_status values), §5.3 (optional parameters).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
MAX_PDU_SIZE = 70_000  # message_payload may carry up to 64 KiB
RESPONSE = 0x8000_0000


class Command(IntEnum):
    GENERIC_NACK = 0x8000_0000
    BIND_RECEIVER = 0x0000_0001
    BIND_RECEIVER_RESP = 0x8000_0001
    BIND_TRANSMITTER = 0x0000_0002
    BIND_TRANSMITTER_RESP = 0x8000_0002
    QUERY_SM = 0x0000_0003
    QUERY_SM_RESP = 0x8000_0003
    SUBMIT_SM = 0x0000_0004
    SUBMIT_SM_RESP = 0x8000_0004
    DELIVER_SM = 0x0000_0005
    DELIVER_SM_RESP = 0x8000_0005
    UNBIND = 0x0000_0006
    UNBIND_RESP = 0x8000_0006
    REPLACE_SM = 0x0000_0007
    REPLACE_SM_RESP = 0x8000_0007
    CANCEL_SM = 0x0000_0008
    CANCEL_SM_RESP = 0x8000_0008
    BIND_TRANSCEIVER = 0x0000_0009
    BIND_TRANSCEIVER_RESP = 0x8000_0009
    OUTBIND = 0x0000_000B
    ENQUIRE_LINK = 0x0000_0015
    ENQUIRE_LINK_RESP = 0x8000_0015
    SUBMIT_MULTI = 0x0000_0021
    SUBMIT_MULTI_RESP = 0x8000_0021
    ALERT_NOTIFICATION = 0x0000_0102
    DATA_SM = 0x0000_0103
    DATA_SM_RESP = 0x8000_0103


class Status(IntEnum):
    """command_status values of SMPP 3.4 §5.2.3 (vendors add their own in 0x400-0x4FF)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def status_name(code: int) -> str:
    """``ESME_RTHROTTLED`` for 0x58; ``0x00000401`` for a code SMPP 3.4 does not name."""
    try:
        return Status(code).name
    except ValueError:
        return f"0x{code:08X}"


class Tag(IntEnum):
    """Optional parameter tags of SMPP 3.4 §5.3.2 that Qasid reads or writes."""

    DEST_ADDR_SUBUNIT = 0x0005
    PAYLOAD_TYPE = 0x0019
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427


class PduError(Exception):
    """A frame that cannot be taken; ``status`` is what to answer it with."""

    def __init__(self, status: Status, detail: str, *, command_id: int = 0, sequence: int = 0) -> None:
        super().__init__(f"{status.name}: {detail}")
        self.status = status
        self.detail = detail
        self.command_id = command_id
        self.sequence = sequence


Tlvs = dict[int, bytes]  # tag -> raw value, in the order received


def tlv_int(tlvs: Tlvs, tag: int) -> int | None:
    value = tlvs.get(tag)
    return int.from_bytes(value, "big") if value else None


def tlv_text(tlvs: Tlvs, tag: int) -> str | None:
    """A C-Octet string TLV (its NUL is optional: peers differ)."""
    value = tlvs.get(tag)
    return None if value is None else value.split(b"\0", 1)[0].decode("latin-1")


def int_tlv(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def text_tlv(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Header fields every PDU has. ``command_id`` is fixed per class, except where one body layout
    serves several commands (binds, submit_sm and deliver_sm, the bodiless ones)."""

    command_id: int
    status: int = 0
    sequence: int = 0

    FIELDS: ClassVar[tuple[tuple[str, str, int], ...]] = ()  # (name, kind, size) of the body
    HAS_TLVS: ClassVar[bool] = False

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE)


@dataclass(slots=True, kw_only=True)
class Empty(Pdu):
    """unbind, unbind_resp, enquire_link, enquire_link_resp, generic_nack: a header alone."""


@dataclass(slots=True, kw_only=True)
class Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    FIELDS = (
        ("system_id", "c", 16),
        ("password", "c", 9),
        ("system_type", "c", 13),
        ("interface_version", "u", 1),
        ("addr_ton", "u", 1),
        ("addr_npi", "u", 1),
        ("address_range", "c", 41),
    )


@dataclass(slots=True, kw_only=True)
class BindResp(Pdu):
    system_id: str = ""
    tlvs: Tlvs = field(default_factory=dict)

    FIELDS = (("system_id", "c", 16),)
    HAS_TLVS = True


@dataclass(slots=True, kw_only=True)
class Outbind(Pdu):
    command_id: int = Command.OUTBIND
    system_id: str = ""
    password: str = ""

    FIELDS = (("system_id", "c", 16), ("password", "c", 9))


@dataclass(slots=True, kw_only=True)
class ShortMessage(Pdu):
    """submit_sm and deliver_sm (the same body)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = field(default_factory=dict)

    FIELDS = (
        ("service_type", "c", 6),
        ("source_addr_ton", "u", 1),
        ("source_addr_npi", "u", 1),
        ("source_addr", "c", 21),
        ("dest_addr_ton", "u", 1),
        ("dest_addr_npi", "u", 1),
        ("destination_addr", "c", 21),
        ("esm_class", "u", 1),
        ("protocol_id", "u", 1),
        ("priority_flag", "u", 1),
        ("schedule_delivery_time", "c", 17),
        ("validity_period", "c", 17),
        ("registered_delivery", "u", 1),
        ("replace_if_present_flag", "u", 1),
        ("data_coding", "u", 1),
        ("sm_default_msg_id", "u", 1),
        ("short_message", "o", 254),  # preceded by sm_length (1 octet)
    )
    HAS_TLVS = True


@dataclass(slots=True, kw_only=True)
class DataSm(Pdu):
    command_id: int = Command.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: Tlvs = field(default_factory=dict)

    FIELDS = (
        ("service_type", "c", 6),
        ("source_addr_ton", "u", 1),
        ("source_addr_npi", "u", 1),
        ("source_addr", "c", 65),
        ("dest_addr_ton", "u", 1),
        ("dest_addr_npi", "u", 1),
        ("destination_addr", "c", 65),
        ("esm_class", "u", 1),
        ("registered_delivery", "u", 1),
        ("data_coding", "u", 1),
    )
    HAS_TLVS = True


@dataclass(slots=True, kw_only=True)
class MessageIdResp(Pdu):
    """submit_sm_resp, deliver_sm_resp (its message_id is empty) and data_sm_resp."""

    message_id: str = ""
    tlvs: Tlvs = field(default_factory=dict)

    FIELDS = (("message_id", "c", 65),)
    HAS_TLVS = True


@dataclass(slots=True, kw_only=True)
class AlertNotification(Pdu):
    command_id: int = Command.ALERT_NOTIFICATION
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: Tlvs = field(default_factory=dict)

    FIELDS = (
        ("source_addr_ton", "u", 1),
        ("source_addr_npi", "u", 1),
        ("source_addr", "c", 65),
        ("esme_addr_ton", "u", 1),
        ("esme_addr_npi", "u", 1),
        ("esme_addr", "c", 65),
    )
    HAS_TLVS = True


LAYOUTS: dict[int, type[Pdu]] = {
    Command.GENERIC_NACK: Empty,
    Command.BIND_RECEIVER: Bind,
    Command.BIND_TRANSMITTER: Bind,
    Command.BIND_TRANSCEIVER: Bind,
    Command.BIND_RECEIVER_RESP: BindResp,
    Command.BIND_TRANSMITTER_RESP: BindResp,
    Command.BIND_TRANSCEIVER_RESP: BindResp,
    Command.OUTBIND: Outbind,
    Command.UNBIND: Empty,
    Command.UNBIND_RESP: Empty,
    Command.ENQUIRE_LINK: Empty,
    Command.ENQUIRE_LINK_RESP: Empty,
    Command.SUBMIT_SM: ShortMessage,
    Command.DELIVER_SM: ShortMessage,
    Command.SUBMIT_SM_RESP: MessageIdResp,
    Command.DELIVER_SM_RESP: MessageIdResp,
    Command.DATA_SM: DataSm,
    Command.DATA_SM_RESP: MessageIdResp,
    Command.ALERT_NOTIFICATION: AlertNotification,
}


def encode(pdu: Pdu) -> bytes:
    """The frame for ``pdu``, header included."""
    body = bytearray()
    for name, kind, size in pdu.FIELDS:
        value = getattr(pdu, name)
        if kind == "u":
            if not 0 <= value < 256:
                raise ValueError(f"{name}={value} does not fit in one octet")
            body.append(value)
        elif kind == "c":
            raw = value.encode("latin-1")
            if len(raw) >= size or b"\0" in raw:
                raise ValueError(f"{name} must be under {size} octets without NUL: {value!r}")
            body += raw + b"\0"
        else:
            if len(value) > size:
                raise ValueError(f"{name} is {len(value)} octets; at most {size} (use message_payload)")
            body.append(len(value))
            body += value
    if pdu.HAS_TLVS:
        tlvs: Tlvs = getattr(pdu, "tlvs")  # noqa: B009 - every class with HAS_TLVS has the field
        for tag, value in tlvs.items():
            if not 0 <= tag < 0x10000 or len(value) >= 0x10000:
                raise ValueError(f"TLV 0x{tag:04X} of {len(value)} octets does not fit")
            body += struct.pack(">HH", tag, len(value)) + value
    return HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.status, pdu.sequence) + bytes(body)


def frame_length(header: bytes) -> int:
    """The command_length of a frame from its first four octets; ``PduError`` when no PDU can be
    that long (the stream cannot be trusted after it: close the session)."""
    length = int.from_bytes(header[:4], "big")
    if not HEADER_SIZE <= length <= MAX_PDU_SIZE:
        raise PduError(
            Status.ESME_RINVCMDLEN, f"command_length {length} is outside {HEADER_SIZE}-{MAX_PDU_SIZE}"
        )
    return length


def decode(frame: bytes) -> Pdu:
    """The PDU in ``frame`` (exactly one, header included)."""
    if len(frame) < HEADER_SIZE:
        raise PduError(Status.ESME_RINVCMDLEN, f"{len(frame)} octets is shorter than a header")
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(
            Status.ESME_RINVCMDLEN, f"command_length {length} but {len(frame)} octets",
            command_id=command_id, sequence=sequence,
        )  # fmt: skip
    layout = LAYOUTS.get(command_id)
    if layout is None:
        raise PduError(
            Status.ESME_RINVCMDID, f"command_id 0x{command_id:08X} is not supported",
            command_id=command_id, sequence=sequence,
        )  # fmt: skip
    try:
        values, offset = _fields(frame, layout)
        if layout.HAS_TLVS:
            values["tlvs"] = _tlvs(frame, offset)
        elif offset != length:
            raise PduError(Status.ESME_RINVCMDLEN, f"{length - offset} octets after the body")
    except PduError as exc:
        raise PduError(exc.status, exc.detail, command_id=command_id, sequence=sequence) from None
    return layout(command_id=command_id, status=status, sequence=sequence, **values)


def _fields(frame: bytes, layout: type[Pdu]) -> tuple[dict[str, object], int]:
    values: dict[str, object] = {}
    offset, end = HEADER_SIZE, len(frame)
    if offset == end and int.from_bytes(frame[4:8], "big") & RESPONSE:
        return values, offset  # responses come without a body on errors, and from some peers always
    for name, kind, _size in layout.FIELDS:
        if offset >= end:
            raise PduError(Status.ESME_RINVMSGLEN, f"the body ends before {name}")
        if kind == "u":
            values[name] = frame[offset]
            offset += 1
        elif kind == "c":
            nul = frame.find(b"\0", offset)
            if nul < 0:
                raise PduError(Status.ESME_RINVMSGLEN, f"{name} has no NUL terminator")
            values[name] = frame[offset:nul].decode("latin-1")
            offset = nul + 1
        else:
            size = frame[offset]
            if offset + 1 + size > end:
                raise PduError(Status.ESME_RINVMSGLEN, f"sm_length {size} runs past the body")
            values[name] = frame[offset + 1 : offset + 1 + size]
            offset += 1 + size
    return values, offset


def _tlvs(frame: bytes, offset: int) -> Tlvs:
    found: Tlvs = {}
    end = len(frame)
    while offset < end:
        if offset + 4 > end:
            raise PduError(Status.ESME_RINVOPTPARSTREAM, "a TLV header runs past the PDU")
        tag, size = struct.unpack_from(">HH", frame, offset)
        if offset + 4 + size > end:
            raise PduError(Status.ESME_RINVPARLEN, f"TLV 0x{tag:04X} of {size} octets runs past the PDU")
        found[tag] = frame[offset + 4 : offset + 4 + size]
        offset += 4 + size
    return found
