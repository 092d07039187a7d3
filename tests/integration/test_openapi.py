"""The OpenAPI document and the generated docs stay true to the code."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from qasid.api.openapi import document
from qasid.api.problems import errors_markdown
from qasid.settings import settings_markdown

DOCS = Path(__file__).parents[2] / "docs"


class TestOpenAPI:
    async def test_the_served_document_is_valid_openapi_31(self, client):
        response = await client.get("/openapi.json")
        spec = response.json()
        assert spec["openapi"].startswith("3.1")
        validate(spec)

    async def test_the_send_body_is_documented_with_its_fields(self, client):
        spec = (await client.get("/openapi.json")).json()
        body = spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        name = body["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
        assert set(schema["required"]) == {"to", "text", "sender"}
        assert {"schedule_at", "validity", "client_ref"} <= set(schema["properties"])
        assert schema["additionalProperties"] is False

    async def test_errors_are_documented_as_problem_documents(self, client):
        spec = (await client.get("/openapi.json")).json()
        refused = spec["paths"]["/v1/messages"]["post"]["responses"]["402"]
        assert "application/problem+json" in refused["content"]
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"

    async def test_the_docs_page_is_served_and_reads_the_document(self, client):
        await client.get("/openapi.json")
        for path in ("/docs", "/"):
            response = await client.get(path)
            assert response.status_code == 200
            assert 'data-url="/openapi.json"' in response.text

    def test_the_committed_copy_matches_the_code(self):
        committed = json.loads((DOCS / "openapi.json").read_text())
        assert committed == json.loads(json.dumps(document())), (
            "run `make openapi` and commit docs/openapi.json"
        )


class TestGeneratedDocs:
    def test_the_error_table_matches_the_code(self):
        assert (DOCS / "errors.md").read_text() == errors_markdown(), (
            "run `make docs` and commit docs/errors.md"
        )

    def test_the_configuration_page_matches_the_settings(self):
        assert (DOCS / "configuration.md").read_text() == settings_markdown(), "run `make docs`"

    async def test_each_problem_type_resolves_to_its_description(self, client):
        response = await client.get("/problems/insufficient_funds")
        assert response.json()["status"] == 402
        assert (await client.get("/problems/nope")).status_code == 404
