"""Version 1 of the native API."""

from __future__ import annotations

from litestar import Router

from qasid.api.v1 import (
    account,
    campaigns,
    contacts,
    inbound,
    messages,
    senders,
    simulator,
    templates,
    verifications,
    webhooks,
)

router = Router(
    path="/v1",
    route_handlers=[
        *messages.handlers,
        *verifications.handlers,
        *webhooks.handlers,
        *inbound.handlers,
        *senders.handlers,
        *contacts.handlers,
        *templates.handlers,
        *campaigns.handlers,
        *account.handlers,
        *simulator.handlers,
    ],
    security=[{"bearer": []}],
)
