"""Start the gateway as users do, in its own process, and stop it the hard way when a test asks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

LISTENING = re.compile(r"Qasid listening on (http://[\d.]+:\d+)")
FAST = {
    "QASID_DISPATCH_IDLE_POLL_SECONDS": "0.05",
    "QASID_HEARTBEAT_SECONDS": "0.2",
    "QASID_WORKER_DEAD_AFTER_SECONDS": "1",
    "QASID_RETRY_BASE_SECONDS": "0.05",
    "QASID_RETRY_CAP_SECONDS": "0.5",
    "QASID_CONNECTORS_RELOAD_SECONDS": "0.2",
    "QASID_LOG_LEVEL": "warning",
}


@dataclass
class Gateway:
    process: subprocess.Popen[str]
    url: str

    def kill(self) -> None:
        """Kill -9: no shutdown, nothing flushed."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start(database_url: str, *, command: str = "serve", **env: str) -> Gateway:
    full = {**os.environ, **FAST, **env, "QASID_DATABASE_URL": database_url, "QASID_PORT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "qasid", command],
        env=full,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if found := LISTENING.search(line):
            _drain(process)
            return Gateway(process, found[1])
        if command == "worker" and "worker running" in line:
            _drain(process)
            return Gateway(process, "")
    process.kill()
    raise AssertionError("the gateway did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep reading its output so a full pipe never blocks it."""
    import threading  # noqa: PLC0415

    def read() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=read, daemon=True).start()


def wait_ready(url: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready")
