"""Where the dialects are mounted: each one switched on in ``QASID_DIALECTS``, under its prefix."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Router

from qasid.compat import standingtech
from qasid.compat.smsapi import api as smsapi
from qasid.settings import Settings

# name -> the dialect's router, mounted under a prefix
MOUNTS: dict[str, Callable[[str], Router]] = {
    "standingtech": standingtech.router,
    "smsapi": smsapi.router,
}


def routers(settings: Settings) -> list[Router]:
    """The dialects switched on, each under its prefix."""
    return [
        mount(prefix) for name, mount in MOUNTS.items() if (prefix := settings.dialects.get(name)) is not None
    ]
