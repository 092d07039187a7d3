"""The README's first command, `make run`, as a user runs it: a real process on a real port."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).parents[2]
LISTENING = re.compile(r"Qasid listening on (http://[\d.]+:\d+)")


class Gateway:
    def __init__(self, process: subprocess.Popen[str], lines: list[str], url: str) -> None:
        self.process, self.lines, self.url = process, lines, url

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _start(env: dict[str, str]) -> Gateway:
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if found := LISTENING.search(line):
            _wait_until_serving(found[1])
            return Gateway(process, lines, found[1])
    process.kill()
    raise AssertionError("make run did not start:\n" + "".join(lines))


def _wait_until_serving(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    env = {
        **os.environ,
        "QASID_DATABASE_URL": f"sqlite:///{tmp_path / 'qasid.db'}",  # the embedded default, in every run
        "QASID_PORT": "0",
        "QASID_DEMO_KEY_FILE": str(tmp_path / "demo-key"),
    }
    running = _start(env)
    yield running
    if running.process.poll() is None:
        os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait()


class TestMakeRun:
    def test_it_prints_a_key_and_a_curl_line_that_sends_a_message(self, gateway: Gateway):
        [curl] = [line.strip() for line in gateway.lines if line.strip().startswith("curl ")]
        command = re.sub(r"http://[\d.]+:\d+", gateway.url, curl)
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30, check=True)
        answer = json.loads(result.stdout)
        assert answer["messages"][0]["to"] == "+9647701234567"
        assert answer["messages"][0]["status"] == "accepted"
        assert answer["balance"] == 100_000 - 20

    def test_the_message_it_sends_is_delivered_and_readable_in_the_simulator(self, gateway: Gateway):
        key = re.search(r"qsk_\w+", gateway.output)[0]  # type: ignore[index]
        headers = {"Authorization": f"Bearer {key}"}
        body = {"to": ["+9647701234567"], "text": "Your code is 4821", "sender": "Qasid"}
        sent = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=10).json()
        message_id = sent["messages"][0]["id"]
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status != "delivered":
            time.sleep(0.1)
            status = httpx.get(f"{gateway.url}/v1/messages/{message_id}", headers=headers).json()["status"]
        assert status == "delivered"
        inbox = httpx.get(
            f"{gateway.url}/v1/simulator/messages", params={"to": "+9647701234567"}, headers=headers
        ).json()
        assert [(m["message_id"], m["text"]) for m in inbox] == [(message_id, "Your code is 4821")]

    def test_a_ten_megabyte_body_is_refused_over_the_wire(self, gateway: Gateway):
        key = re.search(r"qsk_\w+", gateway.output)[0]  # type: ignore[index]
        body = b'{"to": "+9647701234567", "sender": "Qasid", "text": "' + b"a" * (10 * 1024 * 1024) + b'"}'
        response = httpx.post(
            f"{gateway.url}/v1/messages", content=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")

    def test_sigterm_stops_it_cleanly(self, gateway: Gateway):
        server = _server_pid(gateway.process.pid)
        os.kill(server, signal.SIGTERM)
        assert gateway.process.wait(timeout=30) in (0, 2)  # make reports the child's exit

    def test_a_second_run_keeps_the_same_demo_key(self, gateway: Gateway, tmp_path: Path):
        key = re.search(r"qsk_\w+", gateway.output)[0]  # type: ignore[index]
        os.killpg(gateway.process.pid, signal.SIGTERM)
        gateway.process.wait(timeout=30)
        env = {
            **os.environ,
            "QASID_DATABASE_URL": f"sqlite:///{tmp_path / 'qasid.db'}",
            "QASID_PORT": "0",
            "QASID_DEMO_KEY_FILE": str(tmp_path / "demo-key"),
        }
        again = _start(env)
        try:
            assert key in again.output
        finally:
            os.killpg(again.process.pid, signal.SIGKILL)
            again.process.wait()


def _server_pid(make_pid: int) -> int:
    """The `qasid serve` process under make."""
    for _ in range(50):
        pgrep = subprocess.run(["pgrep", "-P", str(make_pid)], capture_output=True, text=True, check=False)
        if children := pgrep.stdout.split():
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("no server process under make")
