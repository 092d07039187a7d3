"""The fast lane (qasid.api.fastlane) answers a send, a verification's create and its check as
Litestar's handlers do: every request here is sent twice, once through each lane of the same app, and the
answers compared (status, headers, body; ids and times, which differ by nature, set aside)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qasid.api.app import create_app
from qasid.api.fastlane import FastLane, hot_route
from tests.support import Customer, Operator, add_simulator

NUMBERS = iter(f"+96477000{n:05d}" for n in range(10_000))
VARYING = {"id", "to", "created_at", "updated_at", "expires_at"}  # fresh in each request


class Lanes:
    """Sends a request through the fast lane, then the same through Litestar, and counts the fast
    lane's calls (so a test cannot pass with the fast lane bypassed)."""

    def __init__(self, http: httpx.AsyncClient, app: Any) -> None:
        self.http, self.app = http, app
        self.fast = app.fast_lane
        assert self.fast is not None
        self.fast_calls = 0

        async def counted(scope, receive, send):
            self.fast_calls += 1
            await self.fast(scope, receive, send)

        self.counted = counted

    async def one(self, fast: bool, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request through the fast lane (checked to have answered it) or through Litestar.
        A callable among the httpx ``kwargs`` is called first (a fresh number each time)."""
        kwargs = {k: v() if callable(v) else v for k, v in kwargs.items()}
        self.app.fast_lane = self.counted if fast else None
        before = self.fast_calls
        try:
            answer = await self.http.request(method, path, **kwargs)
        finally:
            self.app.fast_lane = self.fast
        assert self.fast_calls == before + (1 if fast else 0), "the wrong lane answered"
        return answer

    async def both(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return await self.one(True, method, path, **kwargs), await self.one(False, method, path, **kwargs)


def same(fast: httpx.Response, slow: httpx.Response, *, varying: frozenset[str] = frozenset()) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    ignored = {"x-request-id", "content-length"} | {name.replace("_", "-") for name in varying}
    assert {k: v for k, v in fast.headers.items() if k not in ignored} == {
        k: v for k, v in slow.headers.items() if k not in ignored
    }
    fast_body, slow_body = fast.json(), slow.json()
    assert fast_body.keys() == slow_body.keys()
    assert {k: v for k, v in fast_body.items() if k not in VARYING | varying} == {
        k: v for k, v in slow_body.items() if k not in VARYING | varying
    }


@pytest.fixture
def lanes(api, db) -> Lanes:
    http, app = api
    add_simulator(db)  # a route for the codes' SMS (a create checks there is one)
    return Lanes(http, app)


def body(customer: Customer, **extra: Any) -> dict[str, Any]:
    """A create's request, with a fresh number each time it is sent."""
    return {"json": lambda: {"to": next(NUMBERS), "sender": "Qasid", **extra}, "headers": customer.headers}


class TestTheRoutes:
    @pytest.mark.parametrize(
        ("method", "path", "hot"),
        [
            ("POST", "/v1/messages", ("send", "")),
            ("POST", "/v1/messages/", None),
            ("GET", "/v1/messages", None),
            ("POST", "/v1/verifications", ("create", "")),
            ("POST", "/v1/verifications/ver_1/check", ("check", "ver_1")),
            ("GET", "/v1/verifications", None),
            ("POST", "/v1/verifications/", None),  # Litestar's, slash and all
            ("POST", "/v1/verifications//check", None),
            ("POST", "/v1/verifications/a/b/check", None),
            ("POST", "/v1/verifications/ver_1/cancel", None),
        ],
    )
    def test_only_the_two_calls_take_the_fast_lane(self, method, path, hot):
        assert hot_route(method, path) == hot

    async def test_a_create_and_its_checks_answer_alike(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10_000, price=20)
        fast, slow = await lanes.both("POST", "/v1/verifications", **body(customer, code="4821"))
        same(fast, slow)
        assert fast.status_code == 201
        assert fast.headers["content-type"] == "application/json"
        ids = {True: fast.json()["id"], False: slow.json()["id"]}  # each lane checks its own
        for code, status, result in (
            ("0000", 200, "invalid"),
            ("4821", 200, "approved"),
            ("4821", 409, None),
        ):
            answers = [
                await lanes.one(lane, "POST", f"/v1/verifications/{ids[lane]}/check", json={"code": code},
                                headers=customer.headers)
                for lane in (True, False)
            ]  # fmt: skip
            same(*answers, varying=frozenset({"instance"}))  # the path names each lane's own
            assert answers[0].status_code == status
            if result is not None:
                assert answers[0].json()["status"] == result

    async def test_errors_answer_alike(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10_000, price=20)
        cases: list[tuple[str, dict[str, Any], int]] = [
            ("/v1/verifications", {"json": {"to": "+9647700000001"}}, 401),  # no key
            ("/v1/verifications", {"json": {}, "headers": {"Authorization": "Bearer nope"}}, 401),
            ("/v1/verifications", {"content": b"", "headers": customer.headers}, 400),
            ("/v1/verifications", {"content": b"{not json", "headers": customer.headers}, 400),
            ("/v1/verifications", body(customer, code_length=3), 422),
            ("/v1/verifications", body(customer, surprise=1), 422),
            (
                "/v1/verifications",
                {"json": {"to": "12", "sender": "Qasid"}, "headers": customer.headers},
                422,
            ),
            (
                "/v1/verifications/ver_nope/check",
                {"json": {"code": "1234"}, "headers": customer.headers},
                404,
            ),
            ("/v1/verifications/ver_nope/check", {"json": {"code": 1234}, "headers": customer.headers}, 422),
        ]
        for path, kwargs, status in cases:
            fast, slow = await lanes.both("POST", path, **kwargs)
            same(fast, slow)
            assert fast.status_code == status, (path, kwargs, fast.text)

    async def test_a_body_over_the_limit_answers_alike_announced_or_not(
        self, lanes: Lanes, operator: Operator
    ):
        customer = operator.customer()
        huge = b'{"to": "' + b"9" * (2 * 1024 * 1024) + b'"}'
        fast, slow = await lanes.both("POST", "/v1/verifications", content=huge, headers=customer.headers)
        same(fast, slow)
        assert fast.status_code == 413

        async def chunks():  # no length announced: the limit holds on what arrives
            yield huge[:1000]
            yield huge[1000:]

        fast, slow = await lanes.both("POST", "/v1/verifications", content=chunks, headers=customer.headers)
        same(fast, slow)
        assert fast.status_code == 413

    async def test_a_limit_answers_alike_with_its_retry_after(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10_000, price=20)
        to = next(NUMBERS)
        created = await lanes.http.post(
            "/v1/verifications", json={"to": to, "sender": "Qasid"}, headers=customer.headers
        )
        assert created.status_code == 201, created.text
        again = {"json": {"to": to, "sender": "Qasid"}, "headers": customer.headers}  # one at a time
        fast, slow = await lanes.both("POST", "/v1/verifications", **again)
        same(fast, slow, varying=frozenset({"retry_after"}))  # counted down between the two
        assert fast.status_code == 429
        assert fast.json()["verification_id"] == created.json()["id"]
        assert 0 < int(fast.headers["retry-after"]) <= 30

    async def test_the_request_id_is_kept_and_made_as_elsewhere(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10_000, price=20)
        given = {**customer.headers, "X-Request-ID": "abc-123"}
        kept = await lanes.http.post(
            "/v1/verifications", json={"to": next(NUMBERS), "sender": "Qasid"}, headers=given
        )
        made = await lanes.http.post(
            "/v1/verifications/ver_nope/check", json={"code": "1"}, headers=customer.headers
        )
        assert kept.headers["x-request-id"] == "abc-123"
        assert made.headers["x-request-id"].startswith("req_")


class TestSends:
    async def test_a_send_answers_alike(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10_000, price=20)
        send = {"json": lambda: {"to": [next(NUMBERS), "12"], "text": "hello", "sender": "Qasid"},
                "headers": customer.headers}  # fmt: skip
        fast, slow = await lanes.both("POST", "/v1/messages", **send)
        assert fast.status_code == slow.status_code == 202, fast.text
        assert fast.headers.keys() == slow.headers.keys()
        assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
        mine, theirs = fast.json(), slow.json()
        assert mine.keys() == theirs.keys()
        assert [m.keys() for m in mine["messages"]] == [m.keys() for m in theirs["messages"]]
        assert mine["invalid"] == theirs["invalid"] != []
        assert (mine["total_cost"], mine["balance"] - 20) == (theirs["total_cost"], theirs["balance"])

    async def test_a_repeat_with_its_idempotency_key_is_replayed_by_either_lane(
        self, lanes: Lanes, operator: Operator
    ):
        customer = operator.customer(balance=10_000, price=20)
        send = {"json": {"to": next(NUMBERS), "text": "hello", "sender": "Qasid"},
                "headers": {**customer.headers, "Idempotency-Key": "order-1"}}  # fmt: skip
        first = await lanes.one(True, "POST", "/v1/messages", **send)
        again, again_slow = await lanes.both("POST", "/v1/messages", **send)
        assert first.status_code == again.status_code == again_slow.status_code == 202
        assert "idempotent-replayed" not in first.headers
        assert again.headers["idempotent-replayed"] == again_slow.headers["idempotent-replayed"] == "true"
        assert first.content == again.content == again_slow.content  # byte for byte
        assert operator.account(customer.account.id).balance == 10_000 - 20  # charged once

    async def test_errors_answer_alike(self, lanes: Lanes, operator: Operator):
        customer = operator.customer(balance=10)
        ok = {"to": "+9647700000001", "text": "hello", "sender": "Qasid"}
        cases: list[tuple[dict[str, Any], int]] = [
            ({"json": ok}, 401),
            ({"content": b"{not json", "headers": customer.headers}, 400),
            ({"json": {**ok, "sender": "Nobody"}, "headers": customer.headers}, 422),  # unknown sender
            ({"json": {**ok, "text": ""}, "headers": customer.headers}, 422),
            ({"json": ok, "headers": {**customer.headers, "Idempotency-Key": "k" * 256}}, 422),
            (
                {"json": {**ok, "to": [f"+96477000{n:05d}" for n in range(50)]}, "headers": customer.headers},
                402,
            ),
        ]
        for kwargs, status in cases:
            fast, slow = await lanes.both("POST", "/v1/messages", **kwargs)
            same(fast, slow)
            assert fast.status_code == status, (kwargs, fast.text)


def test_the_app_runs_the_fast_lane_by_default_and_not_when_asked(settings):
    assert isinstance(create_app(settings).fast_lane.app, FastLane)  # behind the request ids
    assert create_app(settings, fast_lane=False).fast_lane is None
