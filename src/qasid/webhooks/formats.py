"""How a delivery goes on the wire, by its ``format``.

``standard`` is the native one: a POST of the JSON body with the Standard Webhooks headers. A dialect
(qasid.compat) whose providers call their customers back differently (a GET with query parameters,
say) registers its own renderer here and names it in the request's ``Callback``; the delivery is
then retried, recorded and replayed like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qasid.webhooks.records import Format


@dataclass(frozen=True, slots=True)
class Outgoing:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Call:
    """One try of a delivery, before it is put on the wire."""

    url: str
    event_id: str
    payload: str  # the event as stored (JSON)
    at: datetime  # the time of the try
    signature: str | None = None  # Standard Webhooks, for the standard format when it has a secret
    key: str | None = None  # the receiver's secret as given, opened, for the other formats


Render = Callable[[Call], Outgoing]


def standard(call: Call) -> Outgoing:
    headers = {
        "content-type": "application/json",
        "webhook-id": call.event_id,
        "webhook-timestamp": str(int(call.at.timestamp())),
    }
    if call.signature is not None:
        headers["webhook-signature"] = call.signature
    return Outgoing("POST", call.url, headers, call.payload.encode())


FORMATS: dict[str, Render] = {Format.STANDARD.value: standard}


def register(name: str, render: Render) -> None:
    """Add a dialect's way of calling back (at import of the dialect, before the workers start)."""
    FORMATS[name] = render
