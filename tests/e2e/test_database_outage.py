"""The database goes away under load and comes back: the gateway recovers by itself, says it is not
ready while the database is gone, and loses no message it accepted."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from qasid.models import messages
from tests.conftest import POSTGRES_URL
from tests.e2e.processes import start, wait_ready
from tests.support import Operator, add_simulator

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="stops and starts the PostgreSQL server; runs in the PostgreSQL suite"
)


def cluster() -> list[str]:
    """The local PostgreSQL cluster as pg_ctlcluster names it (version, name)."""
    assert shutil.which("pg_lsclusters"), "this test controls the local PostgreSQL with pg_ctlcluster"
    line = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.split()
    return [line[0], line[1]]


def postgres(action: str) -> None:
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            *cluster(),
            action,
            *(["-m", "fast"] if action == "stop" else []),
        ],
        check=True,
        timeout=60,
    )


class Load(threading.Thread):
    """Sends one message a request, as fast as it is answered, and keeps what was accepted."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.accepted: list[str] = []
        self.refused = 0
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as http:
            n = 0
            while not self.done.is_set():
                n += 1
                body = {"to": f"+964780{n:07d}", "text": "Your code is 1234", "sender": "Qasid"}
                try:
                    response = http.post("/v1/messages", json=body)
                except httpx.TransportError:
                    self.refused += 1
                    continue
                if response.status_code == 202:
                    self.accepted.append(response.json()["messages"][0]["id"])
                else:
                    assert response.status_code == 503, response.text
                    self.refused += 1
                    time.sleep(0.05)


class TestDatabaseOutage:
    def test_the_gateway_rides_out_a_postgresql_restart(self, database_url, db, operator: Operator):
        price = 20
        customer = operator.customer(balance=10_000_000, price=price)
        add_simulator(db, report_delay_ms=50)
        gateway = start(database_url)
        load = Load(gateway.url, customer.headers)
        stopped = False
        try:
            wait_ready(gateway.url)
            load.start()
            time.sleep(2)
            accepted_before = len(load.accepted)
            postgres("stop")
            stopped = True
            saw_unready = _unready_seen(gateway.url, seconds=3)
            postgres("start")
            stopped = False
            wait_ready(gateway.url, within=60)
            time.sleep(2)
            load.done.set()
            load.join(timeout=30)
            ids = list(load.accepted)
            _wait_final(db, ids)
        finally:
            load.done.set()
            if stopped:
                postgres("start")
            gateway.stop()

        print(
            f"\noutage: {accepted_before} accepted before, {len(ids)} in all, {load.refused} refused with 503"
        )
        assert saw_unready
        assert accepted_before > 0
        assert len(ids) > accepted_before  # it accepted again after the restart
        with db.read() as conn:
            statuses = dict(
                conn.execute(
                    select(messages.c.status, func.count())
                    .where(messages.c.id.in_(ids))
                    .group_by(messages.c.status)
                ).all()
            )
        assert statuses == {"delivered": len(ids)}  # every accepted message made it
        balance = operator.account(customer.account.id).balance
        assert balance == operator.ledger_sum(customer.account.id)
        assert balance == 10_000_000 - price * count_all(db)


def count_all(db) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def _unready_seen(url: str, seconds: float) -> bool:
    deadline, seen = time.monotonic() + seconds, False
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            seen = seen or (response.status_code == 503 and response.json()["checks"]["database"] is False)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return seen


def _wait_final(db, ids: list[str], within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with db.read() as conn:
                done = conn.execute(
                    select(func.count()).where(messages.c.id.in_(ids), messages.c.status == "delivered")
                ).scalar_one()
            if done == len(ids):
                return
        except Exception as exc:  # noqa: BLE001 - the database may still be warming up
            print(f"waiting for the database: {exc!r}")
        time.sleep(0.5)
