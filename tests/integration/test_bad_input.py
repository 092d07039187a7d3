"""Bad input gets a clear 4xx naming the field at fault, never a 500, and changes nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Operator

VALID = {"to": "+9647701234567", "text": "hi", "sender": "Qasid"}


@pytest.fixture
async def customer(operator: Operator):
    return operator.customer(balance=1000)


async def post(client, customer, content: bytes | str, **headers: str):
    data = content.encode() if isinstance(content, str) else content
    return await client.post("/v1/messages", content=data, headers={**customer.headers, **headers})


class TestMalformedBodies:
    @pytest.mark.parametrize(
        "content", ['{"to": "+9647701234567",', "{'to': 1}", "not json", '{"to": "\\x"}']
    )
    async def test_broken_json_is_a_400(self, client, customer, content):
        response = await post(client, customer, content)
        assert (response.status_code, response.json()["code"]) == (400, "malformed_body")

    async def test_an_empty_body_is_a_400(self, client, customer):
        response = await post(client, customer, b"")
        assert response.json()["detail"] == "the body is empty; send a JSON object"

    async def test_invalid_utf8_is_a_400(self, client, customer):
        response = await post(client, customer, b'{"to": "\xff\xfe", "text": "x", "sender": "Qasid"}')
        assert response.status_code == 400

    async def test_a_json_array_is_not_an_object(self, client, customer):
        response = await post(client, customer, "[1, 2]")
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "(body)", "message": "Expected `object`, got `array`"}]


class TestFields:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"to": 9647701234567}, "to"),
            ({"text": 5}, "text"),
            ({"sender": None}, "sender"),
            ({"to": [1, 2]}, "to[0]"),
            ({"to": []}, "to"),
            ({"text": ""}, "text"),
            ({"validity": "60"}, "validity"),
            ({"validity": 0}, "validity"),
            ({"schedule_at": "tomorrow"}, "schedule_at"),
            ({"client_ref": "r" * 65}, "client_ref"),
            ({"to": "9" * 65}, "to"),
        ],
    )
    async def test_a_wrong_type_or_range_names_the_field(self, client, customer, change, field):
        response = await post(client, customer, json.dumps({**VALID, **change}))
        problem = response.json()
        assert (response.status_code, problem["code"]) == (422, "invalid_request")
        assert problem["errors"][0]["field"] == field

    async def test_an_unknown_field_is_refused_by_name(self, client, customer):
        response = await post(client, customer, json.dumps({**VALID, "priority": "high"}))
        assert response.json()["errors"] == [{"field": "priority", "message": "unknown field"}]

    @pytest.mark.parametrize("missing", ["to", "text", "sender"])
    async def test_a_missing_field_is_named(self, client, customer, missing):
        payload = {k: v for k, v in VALID.items() if k != missing}
        response = await post(client, customer, json.dumps(payload))
        assert response.json()["errors"] == [{"field": missing, "message": "required"}]


class TestSizes:
    async def test_a_ten_megabyte_body_is_refused_without_reading_it_all(self, client, customer, operator):
        payload = json.dumps({**VALID, "text": "a" * (10 * 1024 * 1024)})
        response = await post(client, customer, payload)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
        assert operator.account(customer.account.id).balance == 1000

    async def test_a_body_under_the_limit_reaches_validation(self, client, customer):
        response = await post(client, customer, json.dumps({**VALID, "text": "a" * 20_000}))
        assert response.json()["errors"][0]["field"] == "text"

    @pytest.mark.parametrize("path", ["/v1/messages", "/v1/verifications"])
    async def test_a_body_without_a_length_is_counted_as_it_arrives(self, client, customer, operator, path):
        """No Content-Length (chunked): the limit holds on the bytes themselves, and a body under it,
        however it was cut, arrives whole."""

        async def pieces(payload: bytes, size: int):
            for start in range(0, len(payload), size):
                yield payload[start : start + size]

        huge = json.dumps({**VALID, "text": "a" * (2 * 1024 * 1024)}).encode()
        response = await client.post(path, content=pieces(huge, 64 * 1024), headers=customer.headers)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
        assert "content-length" not in response.request.headers
        small = json.dumps({**VALID, "text": ""}).encode()
        response = await client.post(path, content=pieces(small, 7), headers=customer.headers)
        assert response.status_code == 422, response.text  # read whole: the empty text is what is wrong
        assert operator.account(customer.account.id).balance == 1000


class TestQueryParameters:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=ten", "limit"),
            ("status=lost", "status"),
            ("created_after=yesterday", "created_after"),
            ("cursor=abc", "cursor"),
            ("to=hello", "to"),
        ],
    )
    async def test_a_bad_query_parameter_names_itself(self, client, customer, query, field):
        response = await client.get(f"/v1/messages?{query}", headers=customer.headers)
        problem = response.json()
        assert (response.status_code, problem["code"]) == (422, "invalid_request")
        assert problem["errors"][0]["field"] == field

    async def test_an_unknown_path_is_a_problem_document(self, client):
        response = await client.get("/v1/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_a_wrong_method_is_a_405_problem(self, client, customer):
        response = await client.delete("/v1/messages", headers=customer.headers)
        assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = (
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("to", "text", "sender", "schedule_at", "validity", "client_ref"), json_values
        ),
    )
    | json_values
)


class TestNoInputCrashes:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(payload=bodies)
    async def test_any_json_gets_an_answer_below_500(self, client, customer, operator, payload):
        response = await post(client, customer, json.dumps(payload))
        assert response.status_code < 500, response.text
        if response.status_code != 202:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert operator.account(customer.account.id).balance == customer.account.balance
