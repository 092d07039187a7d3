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


# (url, event id, payload as stored, time of the try, Standard Webhooks signature or None) -> request
Render = Callable[[str, str, str, datetime, str | None], Outgoing]


def standard(url: str, event_id: str, payload: str, at: datetime, signature: str | None) -> Outgoing:
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
    }
    if signature is not None:
        headers["webhook-signature"] = signature
    return Outgoing("POST", url, headers, payload.encode())


FORMATS: dict[str, Render] = {Format.STANDARD.value: standard}


def register(name: str, render: Render) -> None:
    """Add a dialect's way of calling back (at import of the dialect, before the workers start)."""
    FORMATS[name] = render
