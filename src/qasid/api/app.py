"""The ASGI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import InterfaceError, OperationalError

from qasid.api import ops, v1, webhooks
from qasid.api.fastlane import QasidApp
from qasid.api.middleware import RequestIdMiddleware
from qasid.api.openapi import openapi_config
from qasid.api.problems import (
    handle_database_error,
    handle_qasid_error,
    handle_unexpected,
)
from qasid.compat.mounts import http_errors, routers
from qasid.domain.phone import parse_recipient
from qasid.errors import QasidError, all_errors
from qasid.logging import configure_logging
from qasid.runtime import Runtime
from qasid.settings import Settings, get_settings


@get("/problems/{code:str}", include_in_schema=False, sync_to_thread=False)
def describe_problem(code: FromPath[str]) -> dict[str, Any]:
    """The human description behind a problem document's ``type``."""
    for cls in all_errors():
        if cls.code == code:
            return {"code": cls.code, "status": cls.status, "title": cls.title, "description": cls.__doc__}
    raise HTTPException(status_code=404, detail="Not Found")


def _settle_heap() -> None:
    """Keep the objects that live as long as the process out of the garbage collector's scans.

    The imported libraries (phonenumbers' metadata, SQLAlchemy, Litestar) leave ~75,000 tracked
    objects; a full collection walks all of them (~60 ms here) and, under load, runs every few
    seconds. Frozen, they are never scanned again; what requests allocate is collected as usual.
    The lifespan unfreezes them at shutdown (tests start many apps in one process)."""
    parse_recipient("+9647701234567", "IQ")  # load the metadata the hot path needs first
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, role: str = "serve", fast_lane: bool = True) -> QasidApp:
    """The gateway's HTTP application. ``role="serve"`` also runs a worker (dispatch, connectors) in
    the same process; ``role="api"`` serves HTTP only. ``fast_lane=False`` leaves a send and a
    verification's create and check to Litestar too (qasid.api.fastlane)."""
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = await Runtime.start(settings, role=role)
        app.state.services = services
        _settle_heap()
        try:
            yield
        finally:
            await services.stop()
            gc.unfreeze()

    handlers: ExceptionHandlersMap = {
        QasidError: handle_qasid_error,
        HTTPException: http_errors(settings),
        OperationalError: handle_database_error,
        InterfaceError: handle_database_error,
        Exception: handle_unexpected,
    }
    app = QasidApp(
        route_handlers=[v1.router, describe_problem, *ops.handlers, *webhooks.handlers, *routers(settings)],
        lifespan=[lifespan],
        middleware=[RequestIdMiddleware],
        openapi_config=openapi_config(),
        exception_handlers=handlers,
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,  # configure_logging has set it up, at QASID_LOG_LEVEL
        debug=False,
    )
    if fast_lane:
        app.use_fast_lane(handlers, settings.max_body_bytes)
    return app
