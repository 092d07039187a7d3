"""``/v1/account``: the caller's own account."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, get

from qasid.accounts.schemas import AccountInfo
from qasid.accounts.service import require_account
from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses


@get("/account", tags=["account"], responses=problem_responses(401, 403))
async def get_account(request: Request[Any, Any, Any]) -> AccountInfo:
    """The account's balance, credit limit, currency and payment type."""
    caller = await authenticated(request)
    db = services(request).db

    def read() -> AccountInfo:
        with db.read() as conn:
            return AccountInfo.of(require_account(conn, caller.account_id))

    return await to_thread.run_sync(read)


handlers = [get_account]
