"""The floor for bench/accept.py: the same framework, server and request, with no Qasid logic and
no database. It decodes the same JSON body into a msgspec struct and answers 202."""

from __future__ import annotations

import msgspec
from litestar import Litestar, Request, Response, post

from qasid.messages.schemas import SendMessageRequest

decoder = msgspec.json.Decoder(SendMessageRequest)


@post("/v1/messages", status_code=202)
async def accept(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
    send = decoder.decode(await request.body())
    count = 1 if isinstance(send.to, str) else len(send.to)
    return Response(msgspec.json.encode({"accepted": count}), status_code=202, media_type="application/json")


app = Litestar(route_handlers=[accept])
