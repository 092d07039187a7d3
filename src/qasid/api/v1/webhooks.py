"""``/v1/webhooks``: where the account's events go, and every delivery and try of them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, QueryParameter

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.domain import ids
from qasid.errors import InvalidRequest
from qasid.webhooks.repository import DeliveryFilter
from qasid.webhooks.schemas import (
    CreateEndpointRequest,
    Delivery,
    DeliveryDetail,
    DeliveryPage,
    Endpoint,
    EndpointList,
    EndpointWithSecret,
    UpdateEndpointRequest,
)

_create_decoder = msgspec.json.Decoder(CreateEndpointRequest)
_update_decoder = msgspec.json.Decoder(UpdateEndpointRequest)


@post("/webhooks", status_code=201, tags=["webhooks"], responses=problem_responses(400, 401, 422, 503))
@request_body(CreateEndpointRequest)
async def create_endpoint(request: Request[Any, Any, Any]) -> EndpointWithSecret:
    """Register a receiver of the account's events. The answer holds its signing secret, this once.

    Every call is signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``), so a receiver can check it with the secret alone (docs/webhooks.md)."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _create_decoder)
    return await services(request).webhooks.create(caller, body)


@get("/webhooks", tags=["webhooks"], responses=problem_responses(401))
async def list_endpoints(request: Request[Any, Any, Any]) -> EndpointList:
    """The account's endpoints (without their secrets)."""
    caller = await authenticated(request)
    return await services(request).webhooks.endpoints(caller)


@get("/webhooks/{endpoint_id:str}", tags=["webhooks"], responses=problem_responses(401, 404))
async def get_endpoint(request: Request[Any, Any, Any], endpoint_id: FromPath[str]) -> Endpoint:
    """One endpoint: whether it is enabled, and why not."""
    caller = await authenticated(request)
    return await services(request).webhooks.endpoint(caller, endpoint_id)


@patch("/webhooks/{endpoint_id:str}", tags=["webhooks"], responses=problem_responses(400, 401, 404, 422, 503))
@request_body(UpdateEndpointRequest)
async def update_endpoint(request: Request[Any, Any, Any], endpoint_id: FromPath[str]) -> Endpoint:
    """Change an endpoint. ``enabled: true`` turns a disabled one back on, and what waited for it is
    sent now."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _update_decoder)
    return await services(request).webhooks.change(caller, endpoint_id, body)


@delete("/webhooks/{endpoint_id:str}", tags=["webhooks"], responses=problem_responses(401, 404, 503))
async def delete_endpoint(request: Request[Any, Any, Any], endpoint_id: FromPath[str]) -> None:
    """Remove an endpoint; deliveries still waiting for it fail."""
    caller = await authenticated(request)
    await services(request).webhooks.delete(caller, endpoint_id)


@post(
    "/webhooks/{endpoint_id:str}/rotate-secret",
    status_code=200,
    tags=["webhooks"],
    responses=problem_responses(401, 404, 503),
)
async def rotate_secret(request: Request[Any, Any, Any], endpoint_id: FromPath[str]) -> EndpointWithSecret:
    """A new signing secret, shown this once; calls from now on are signed with it."""
    caller = await authenticated(request)
    return await services(request).webhooks.rotate(caller, endpoint_id)


DeliveryStatus = Literal["pending", "delivered", "failed"]


@get("/webhooks/deliveries", tags=["webhooks"], responses=problem_responses(401, 422))
async def list_deliveries(
    request: Request[Any, Any, Any],
    *,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="page size")] = 50,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
    endpoint_id: Annotated[str | None, QueryParameter(description="only this endpoint's")] = None,
    subject_id: Annotated[
        str | None, QueryParameter(description="only about this message, verification or inbound message")
    ] = None,
    status: Annotated[DeliveryStatus | None, QueryParameter(description="only this status")] = None,
) -> DeliveryPage:
    """The account's webhook deliveries, newest first."""
    caller = await authenticated(request)
    if cursor is not None and not ids.is_valid("whd", cursor):
        raise InvalidRequest(
            "invalid cursor", errors=[{"field": "cursor", "message": "not a cursor we issued"}]
        )
    where = DeliveryFilter(endpoint_id=endpoint_id, subject_id=subject_id, status=status, id_before=cursor)
    return await services(request).webhooks.deliveries(caller, where, limit)


@get("/webhooks/deliveries/{delivery_id:str}", tags=["webhooks"], responses=problem_responses(401, 404))
async def get_delivery(request: Request[Any, Any, Any], delivery_id: FromPath[str]) -> DeliveryDetail:
    """One delivery, its body, and every try: when, the answer's status and first KiB, how long."""
    caller = await authenticated(request)
    return await services(request).webhooks.delivery(caller, delivery_id)


@post(
    "/webhooks/deliveries/{delivery_id:str}/replay",
    status_code=202,
    tags=["webhooks"],
    responses=problem_responses(401, 404, 422, 503),
)
async def replay_delivery(request: Request[Any, Any, Any], delivery_id: FromPath[str]) -> Delivery:
    """Send a delivery again now, with the same ``webhook-id`` and body (a receiver that already has
    it can tell it is a repeat)."""
    caller = await authenticated(request)
    return await services(request).webhooks.replay(caller, delivery_id)


handlers = [
    create_endpoint,
    list_endpoints,
    list_deliveries,
    get_delivery,
    replay_delivery,
    get_endpoint,
    update_endpoint,
    delete_endpoint,
    rotate_secret,
]
