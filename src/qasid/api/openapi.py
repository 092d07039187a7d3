"""The OpenAPI 3.1 document (``/openapi.json``) and the browsable docs (``/docs``).

Litestar generates the document from the handlers and msgspec structs. Request bodies are decoded
by the handlers themselves (strictly, with msgspec, so errors name the field at fault), so Litestar
cannot see them: handlers declare their body with ``@request_body(Struct)`` and the JSON render
plugin below adds those bodies, with their schemas, to the document it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

import qasid
from qasid.api.problems import PROBLEM_MEDIA_TYPE, Problem

F = TypeVar("F", bound=Callable[..., Any])
_BODY_ATTRIBUTE = "__qasid_request_body__"
_DESCRIPTIONS = {
    400: "Malformed body",
    401: "Missing, invalid, revoked or expired API key",
    402: "Insufficient funds",
    403: "Account suspended, sender ID not approved, or country not allowed",
    404: "Not found in the caller's account",
    409: "Not possible in the current state",
    413: "Body too large",
    422: "A field is invalid; `errors` names it",
    429: "A limit was reached; `Retry-After` says when to try again",
    503: "Database unavailable; nothing was accepted",
}


def request_body(struct: type[msgspec.Struct]) -> Callable[[F], F]:
    """Document ``struct`` as the JSON body of the decorated handler."""

    def mark(fn: F) -> F:
        setattr(fn, _BODY_ATTRIBUTE, struct)
        return fn

    return mark


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=_DESCRIPTIONS[status],
            generate_examples=False,  # random examples would make the document differ run to run
        )
        for status in statuses
    }


class _JsonWithBodies(JsonRenderPlugin):
    """Serves the document with the request bodies that handlers declared."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _rendered(request.app, msgspec.json.encode(openapi_schema))


@cache
def _rendered(app: Any, generated: bytes) -> bytes:
    return msgspec.json.encode(with_request_bodies(app, msgspec.json.decode(generated)))


def with_request_bodies(app: Any, document: dict[str, Any]) -> dict[str, Any]:
    bodies: list[tuple[str, str, type[msgspec.Struct]]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            struct = getattr(handler.fn, _BODY_ATTRIBUTE, None)
            if struct is not None:
                for method in handler.http_methods:
                    bodies.append((route.path_format, method.lower(), struct))
    if not bodies:
        return document
    (refs, components) = msgspec.json.schema_components(
        [struct for _, _, struct in bodies], ref_template="#/components/schemas/{name}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    for (path, method, _), ref in zip(bodies, refs, strict=True):
        operation = document["paths"][path][method]
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    return document


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Qasid",
        version=qasid.__version__,
        description="Self-hosted SMS and OTP gateway. Amounts are integer minor units of the account's "
        "currency. Errors are RFC 9457 problem documents with a stable `code`.",
        path="/",
        render_plugins=[ScalarRenderPlugin(path="/docs"), _JsonWithBodies(path="/openapi.json")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="an API key")
            }
        ),
    )


def document() -> dict[str, Any]:
    """The document ``/openapi.json`` serves, without running a server."""
    from qasid.api.app import create_app  # noqa: PLC0415 - app imports this module

    app = create_app()
    return with_request_bodies(app, msgspec.to_builtins(app.openapi_schema.to_schema()))


if __name__ == "__main__":
    import json

    print(json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False))
