"""Seed ``003``'s delivery callback: a GET to the customer's URL with ``key`` (their callback
validation key), ``smsID``, ``number`` (international, without ``+``), ``statusID`` and ``date``
(``Y-m-d H:i:s``, in ``QASID_DIALECT_TIMEZONE``), retried like every webhook until the receiver
answers 2xx. Registered as the webhook format ``smsapi`` when this module is imported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from qasid.compat.common import local_text, provider_number
from qasid.domain.states import MessageStatus
from qasid.settings import get_settings
from qasid.webhooks.formats import Call, Outgoing, register

FORMAT = "smsapi"


class StatusId:
    """The provider's statusID values."""

    SENT, DELIVERED, FAILED, PENDING, ERROR = 0, 1, 2, 3, 4


# Qasid's states as statusID: on the way is pending; handed to the carrier is sent; the carrier's
# final word is delivered or failed; refused by Qasid or the carrier before sending is an error.
STATUS_IDS = {
    MessageStatus.ACCEPTED: StatusId.PENDING,
    MessageStatus.SCHEDULED: StatusId.PENDING,
    MessageStatus.QUEUED: StatusId.PENDING,
    MessageStatus.SENDING: StatusId.PENDING,
    MessageStatus.SENT: StatusId.SENT,
    MessageStatus.DELIVERED: StatusId.DELIVERED,
    MessageStatus.PARTIALLY_DELIVERED: StatusId.DELIVERED,
    MessageStatus.UNDELIVERED: StatusId.FAILED,
    MessageStatus.EXPIRED: StatusId.FAILED,
    MessageStatus.CANCELED: StatusId.FAILED,
    MessageStatus.FAILED: StatusId.ERROR,
    MessageStatus.REJECTED: StatusId.ERROR,
}

_event = msgspec.json.Decoder(dict[str, Any])


def render(call: Call) -> Outgoing:
    """A ``message.status`` event as the provider's GET."""
    event = _event.decode(call.payload)
    data = event["data"]
    at = datetime.fromisoformat(event["timestamp"])
    query = {
        "key": call.key or "",
        "smsID": data["id"],
        "number": provider_number(data["to"]),
        "statusID": str(STATUS_IDS[MessageStatus(data["status"])]),
        "date": local_text(at, get_settings().dialect_timezone),
    }
    parts = urlsplit(call.url)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return Outgoing("GET", urlunsplit(parts._replace(query=joined)), {"accept": "*/*"}, None)


register(FORMAT, render)
