"""``/v1/campaigns``: one text or template to lists and numbers, made into messages in the background."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.campaigns.schemas import CampaignDetail, CampaignPage, CreateCampaignRequest
from qasid.domain import ids
from qasid.errors import InvalidRequest

_create = msgspec.json.Decoder(CreateCampaignRequest)


@post(
    "/campaigns",
    status_code=201,
    tags=["campaigns"],
    responses=problem_responses(400, 401, 402, 403, 404, 422, 503),
)
@request_body(CreateCampaignRequest)
async def create_campaign(request: Request[Any, Any, Any]) -> CampaignDetail:
    """Send a text (or a template, filled per contact) to lists and numbers, now or at ``start_at``,
    at most ``rate_per_minute``, outside each recipient's ``quiet_hours``. Its cost, estimated at the
    highest price the account pays per part, must fit the credit (402 otherwise). Workers make it into
    messages a chunk at a time; recipients who opted out (unless ``stop_list`` is false) or are blocked
    are skipped and counted."""
    caller = await authenticated(request)
    return await services(request).campaigns.create(caller, decode_body(await request.body(), _create))


@get("/campaigns", tags=["campaigns"], responses=problem_responses(401, 422))
async def list_campaigns(
    request: Request[Any, Any, Any],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
) -> CampaignPage:
    caller = await authenticated(request)
    if cursor is not None and not ids.is_valid("cmp", cursor):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    return await services(request).campaigns.page(caller, cursor, limit)


@get("/campaigns/{campaign_id:str}", tags=["campaigns"], responses=problem_responses(401, 404))
async def get_campaign(request: Request[Any, Any, Any], campaign_id: FromPath[str]) -> CampaignDetail:
    """Where it stands: messages made, recipients skipped by reason, and its messages by state with
    their cost."""
    caller = await authenticated(request)
    return await services(request).campaigns.get(caller, campaign_id)


@post(
    "/campaigns/{campaign_id:str}/pause",
    status_code=200,
    tags=["campaigns"],
    responses=problem_responses(401, 404, 409, 503),
)
async def pause_campaign(request: Request[Any, Any, Any], campaign_id: FromPath[str]) -> CampaignDetail:
    """Make no more of its messages until it is resumed (those made already go on)."""
    caller = await authenticated(request)
    return await services(request).campaigns.act(caller, campaign_id, "pause")


@post(
    "/campaigns/{campaign_id:str}/resume",
    status_code=200,
    tags=["campaigns"],
    responses=problem_responses(401, 404, 409, 503),
)
async def resume_campaign(request: Request[Any, Any, Any], campaign_id: FromPath[str]) -> CampaignDetail:
    """Go on from where it paused."""
    caller = await authenticated(request)
    return await services(request).campaigns.act(caller, campaign_id, "resume")


@post(
    "/campaigns/{campaign_id:str}/cancel",
    status_code=200,
    tags=["campaigns"],
    responses=problem_responses(401, 404, 409, 503),
)
async def cancel_campaign(request: Request[Any, Any, Any], campaign_id: FromPath[str]) -> CampaignDetail:
    """Stop for good; its messages held for quiet hours are canceled and refunded."""
    caller = await authenticated(request)
    return await services(request).campaigns.act(caller, campaign_id, "cancel")


@get(
    "/campaigns/{campaign_id:str}/report.csv",
    tags=["campaigns"],
    responses=problem_responses(401, 404),
    media_type="text/csv",
)
async def campaign_report(request: Request[Any, Any, Any], campaign_id: FromPath[str]) -> Response[Any]:
    """Every message of the campaign: id, number, state, the carrier's error code, price, last change."""
    caller = await authenticated(request)
    rows = await services(request).campaigns.report(caller, campaign_id)
    disposition = f'attachment; filename="{campaign_id}.csv"'
    return Stream(rows, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


handlers = [
    create_campaign,
    list_campaigns,
    get_campaign,
    pause_campaign,
    resume_campaign,
    cancel_campaign,
    campaign_report,
]
