"""Operating the gateway: health, readiness, metrics, worker recovery, logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import structlog
from asgi_lifespan import LifespanManager
from sqlalchemy import insert, select, update

from qasid.api.app import create_app
from qasid.models import jobs, workers
from tests.support import Operator, running_simulator, wait_for


class TestHealth:
    async def test_healthz_answers_while_the_process_lives(self, client):
        assert (await client.get("/healthz")).json() == {"status": "ok"}

    async def test_readyz_is_ready_with_a_beating_dispatcher(self, gateway):
        http, _ = gateway
        response = await wait_for(lambda: _ready(http))
        assert response.json() == {"ready": True, "checks": {"database": True, "dispatcher": True}}

    async def test_an_api_without_any_worker_is_not_ready(self, client):
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": True, "dispatcher": False}

    async def test_responses_carry_a_request_id_and_keep_a_sane_given_one(self, client):
        assert (await client.get("/healthz")).headers["x-request-id"].startswith("req_")
        echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"
        replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert replaced.headers["x-request-id"].startswith("req_")


async def _ready(http) -> httpx.Response | None:
    response = await http.get("/readyz")
    return response if response.status_code == 200 else None


class TestMetrics:
    async def test_metrics_count_the_flow_and_show_the_queue(self, gateway, operator: Operator, db):
        http, app = gateway
        await running_simulator(app, db, "metered")
        customer = operator.customer()
        before = (await http.get("/metrics")).text
        await http.post(
            "/v1/messages",
            json={"to": "+9647700000001", "text": "x", "sender": "Qasid"},
            headers=customer.headers,
        )

        async def delivered_counted():
            text = (await http.get("/metrics")).text
            return (
                text
                if _value(text, 'qasid_messages_final_total{connector="metered",status="delivered"}')
                else None
            )

        after = await wait_for(delivered_counted)
        assert (
            _value(after, 'qasid_messages_accepted_total{channel="sms"}')
            == _value(before, 'qasid_messages_accepted_total{channel="sms"}') + 1
        )
        assert _value(after, 'qasid_messages_dispatched_total{connector="metered"}') == 1
        for name in (
            "qasid_queue_depth",
            "qasid_oldest_job_age_seconds",
            "qasid_dispatch_latency_seconds_count",
            "qasid_accept_latency_seconds_count",
        ):
            assert f"\n{name}" in after


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestRecovery:
    async def test_jobs_held_by_a_dead_worker_are_taken_back_and_sent(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer()
        api = create_app(fast_settings, role="api")
        async with (
            LifespanManager(api),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as http,
        ):
            body = {"to": "+9647701112233", "text": "hello", "sender": "Qasid"}
            message_id = (await http.post("/v1/messages", json=body, headers=customer.headers)).json()[
                "messages"
            ][0]["id"]
        long_ago = datetime.now(UTC) - timedelta(minutes=5)
        with db.write() as conn:  # a worker that claimed the job, then died
            dead = {"id": "wrk_dead", "role": "worker", "hostname": "h", "pid": 1, "stopped_at": None}
            conn.execute(insert(workers).values(**dead, started_at=long_ago, heartbeat_at=long_ago))
            conn.execute(update(jobs).values(claimed_by="wrk_dead", claimed_at=long_ago))
        gateway = create_app(fast_settings, role="serve")
        async with (
            LifespanManager(gateway),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://t") as http,
        ):
            await running_simulator(gateway, db)

            async def delivered():
                got = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
                return got["status"] == "delivered"

            await wait_for(delivered)
        with db.read() as conn:
            dead = conn.execute(select(workers).where(workers.c.id == "wrk_dead")).mappings().one()
        assert dead["stopped_at"] is not None


class TestLogs:
    async def test_logs_mask_numbers_and_never_hold_texts_or_keys(self, gateway, operator, db):
        http, app = gateway
        await running_simulator(app, db)
        customer = operator.customer()
        secret_text = "Your secret code is 987123"
        body = {"to": "+9647700000002", "text": secret_text, "sender": "Qasid"}  # refused: that is logged
        with structlog.testing.capture_logs() as logs:
            response = await http.post("/v1/messages", json=body, headers=customer.headers)
            message_id = response.json()["messages"][0]["id"]

            async def failed():
                got = await http.get(f"/v1/messages/{message_id}", headers=customer.headers)
                return got.json()["status"] == "failed"

            await wait_for(failed)
        [ended] = [entry for entry in logs if entry["event"] == "dispatch ended"]
        assert ended["to"] == "+96477******02"
        assert ended["request_id"] == response.headers["x-request-id"]
        everything = repr(logs)
        assert "+9647700000002" not in everything
        assert "987123" not in everything
        assert customer.key not in everything
