"""Webhooks across a crash, with real processes: kill -9 while calls are out, start again, and every
event arrives, each under one webhook-id however often it was tried."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from sqlalchemy import func, select

from qasid.models import webhook_deliveries
from tests.e2e.processes import start, wait_ready
from tests.e2e.test_crash import count, wait_until
from tests.support import Operator, add_simulator

MESSAGES = 1000


class SlowReceiver(BaseHTTPRequestHandler):
    """Takes a little while over each call, so that many are out when the gateway dies."""

    calls: ClassVar[list[tuple[str, dict]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        time.sleep(0.02)
        with self.lock:
            self.calls.append((self.headers["webhook-id"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    SlowReceiver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


class TestKillWhileCalling:
    def test_kill_9_while_webhooks_are_out_loses_none_and_gives_none_a_second_id(
        self, database_url, db, operator: Operator, receiver: str
    ):
        customer = operator.customer(balance=1_000_000, price=20)
        add_simulator(db, latency_ms=1, report_delay_ms=50)
        env = {"QASID_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "QASID_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
               "QASID_WEBHOOK_RETRY_CAP_SECONDS": "0.5"}  # fmt: skip
        gateway = start(database_url, **env)
        try:
            wait_ready(gateway.url)
            with httpx.Client(base_url=gateway.url, headers=customer.headers, timeout=30) as http:
                made = http.post("/v1/webhooks", json={"url": receiver, "statuses": "final"})
                assert made.status_code == 201, made.text
                for request in range(MESSAGES // 500):
                    to = [f"+96478{request:02d}{n:06d}" for n in range(500)]
                    response = http.post("/v1/messages", json={"to": to, "text": "Sale", "sender": "Qasid"})
                    assert response.status_code == 202, response.text[:300]
            wait_until(lambda: len(SlowReceiver.calls) >= 150, within=60, every=0.005)
        finally:
            gateway.kill()
        before_restart = len(SlowReceiver.calls)
        claimed = (
            select(func.count())
            .select_from(webhook_deliveries)
            .where(webhook_deliveries.c.claimed_by.is_not(None))
        )
        out_at_kill = count(db, claimed)

        again = start(database_url, **env)
        try:
            pending = select(func.count()).where(webhook_deliveries.c.status != "delivered")
            wait_until(lambda: count(db, select(func.count()).select_from(webhook_deliveries)) == MESSAGES
                       and count(db, pending) == 0, within=120)  # fmt: skip
        finally:
            again.stop()

        ids_of: dict[str, set[str]] = defaultdict(set)
        for webhook_id, body in SlowReceiver.calls:
            ids_of[body["data"]["id"]].add(webhook_id)
        repeats = len(SlowReceiver.calls) - len({webhook_id for webhook_id, _ in SlowReceiver.calls})
        print(f"\nkill -9 after {before_restart} calls: {out_at_kill} claimed at the kill, {repeats} repeats")
        assert before_restart < MESSAGES, "the kill came too late to test anything"
        assert len(ids_of) == MESSAGES  # every message's final state arrived
        assert all(len(found) == 1 for found in ids_of.values())  # each under one webhook-id
        assert repeats <= out_at_kill  # only calls that were out when it died came twice
