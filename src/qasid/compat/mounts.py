"""Where the dialects are mounted: each one switched on in ``QASID_DIALECTS``, under its prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException

from qasid.api.problems import handle_http_exception
from qasid.compat import standingtech
from qasid.compat.fullsms import api as fullsms
from qasid.compat.otpiq import api as otpiq
from qasid.compat.smsapi import api as smsapi
from qasid.settings import Settings

HttpErrors = Callable[[Request[Any, Any, Any], HTTPException], Response[Any]]

# name -> the dialect's router (mounted under a prefix), and how it answers Litestar's own errors
MOUNTS: dict[str, tuple[Callable[[str], Router], HttpErrors]] = {
    "standingtech": (standingtech.router, standingtech.http_error),
    "otpiq": (otpiq.router, otpiq.http_error),
    "smsapi": (smsapi.router, smsapi.http_error),
    "fullsms": (fullsms.router, fullsms.http_error),
}


def routers(settings: Settings) -> list[Router]:
    """The dialects switched on, each under its prefix."""
    return [
        mount(prefix)
        for name, (mount, _) in MOUNTS.items()
        if (prefix := settings.dialects.get(name)) is not None
    ]


def http_errors(settings: Settings) -> HttpErrors:
    """The application's handler of Litestar's own errors: a path under a dialect's prefix gets the
    dialect's shape (routing errors, an unknown path or a wrong method, are raised before any
    router's own handlers could take them), any other the native problem document."""
    prefixes = [
        (prefix, render)
        for name, (_, render) in MOUNTS.items()
        if (prefix := settings.dialects.get(name)) is not None
    ]

    def handle(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        path = request.url.path
        for prefix, render in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return render(request, exc)
        return handle_http_exception(request, exc)

    return handle
