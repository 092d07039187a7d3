"""``/v1/templates``: message texts with ``{{variables}}``, and a preview of one filled in."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath

from qasid.api.deps import authenticated, services
from qasid.api.openapi import problem_responses, request_body
from qasid.api.problems import decode_body
from qasid.templates.schemas import (
    CreateTemplateRequest,
    Preview,
    PreviewRequest,
    Template,
    TemplateList,
    UpdateTemplateRequest,
)

_create = msgspec.json.Decoder(CreateTemplateRequest)
_update = msgspec.json.Decoder(UpdateTemplateRequest)
_preview = msgspec.json.Decoder(PreviewRequest)


@post("/templates", status_code=201, tags=["templates"], responses=problem_responses(400, 401, 409, 422, 503))
@request_body(CreateTemplateRequest)
async def create_template(request: Request[Any, Any, Any]) -> Template:
    """A named text with ``{{variables}}`` (``{{name}}``, ``{{name|default}}``), filled per recipient
    from the contact's fields, name and number, or from parameters given when it is used."""
    caller = await authenticated(request)
    return await services(request).templates.create(caller, decode_body(await request.body(), _create))


@get("/templates", tags=["templates"], responses=problem_responses(401))
async def list_templates(request: Request[Any, Any, Any]) -> TemplateList:
    caller = await authenticated(request)
    return await services(request).templates.listed(caller)


@get("/templates/{template_id:str}", tags=["templates"], responses=problem_responses(401, 404))
async def get_template(request: Request[Any, Any, Any], template_id: FromPath[str]) -> Template:
    caller = await authenticated(request)
    return await services(request).templates.get(caller, template_id)


@patch(
    "/templates/{template_id:str}",
    tags=["templates"],
    responses=problem_responses(400, 401, 404, 409, 422, 503),
)
@request_body(UpdateTemplateRequest)
async def update_template(request: Request[Any, Any, Any], template_id: FromPath[str]) -> Template:
    caller = await authenticated(request)
    return await services(request).templates.change(
        caller, template_id, decode_body(await request.body(), _update)
    )


@delete("/templates/{template_id:str}", tags=["templates"], responses=problem_responses(401, 404, 503))
async def delete_template(request: Request[Any, Any, Any], template_id: FromPath[str]) -> None:
    caller = await authenticated(request)
    await services(request).templates.delete(caller, template_id)


@post(
    "/templates/{template_id:str}/preview",
    status_code=200,
    tags=["templates"],
    responses=problem_responses(400, 401, 404, 422),
)
@request_body(PreviewRequest)
async def preview_template(request: Request[Any, Any, Any], template_id: FromPath[str]) -> Preview:
    """The text one recipient would get, its encoding and parts, and its price; variables with no
    value and no default are named in ``missing``."""
    caller = await authenticated(request)
    body = decode_body(await request.body(), _preview)
    return await services(request).templates.preview(caller, template_id, body)


handlers = [create_template, list_templates, get_template, update_template, delete_template, preview_template]
