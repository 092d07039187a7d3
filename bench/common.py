"""What the benchmarks share: a seeded database, the gateway's processes, wrk, and /proc figures."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from qasid.accounts import service as accounts
from qasid.billing import service as billing
from qasid.billing.records import DEFAULT_SCOPE, Price
from qasid.db import Database, normalize_url
from qasid.migrations import upgrade
from qasid.models import messages
from qasid.routing import service as routing
from qasid.senders import service as senders

T = TypeVar("T")
HERE = Path(__file__).parent
PYTHON = sys.executable
LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


def seed(url: str, *, simulator: bool = False) -> str:
    """A rich account with sender 'Bench' and a price for Iraq (and, with ``simulator``, a carrier
    simulator with no latency routing everything); returns its API key."""
    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as conn:
        account = accounts.create_account(conn, "bench", now, amount=10**15)
        senders.add_sender(conn, account.id, "Bench", now, approved=True)
        billing.set_price(conn, Price(DEFAULT_SCOPE, "IQ", "*", "sms", "IQD", 1), now)
        _, key = accounts.create_key(conn, account, now)
        if simulator:
            record = routing.add_connector(conn, "simulator", "simulator", {}, now)
            routing.add_route(conn, record.id, now)
    db.dispose()
    return key


def count_messages(url: str) -> int:
    db = Database(url)
    with db.read() as conn:
        found = int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
    db.dispose()
    return found


def accepted(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def end_load_once_accepted(load: subprocess.Popen[Any], db: Database, messages: int) -> None:
    """Stop wrk once every message is in: past its limit send.lua asks GET /healthz, which would
    take the CPU the gateway needs to finish the messages."""
    if load.poll() is None and accepted(db) >= messages:
        load.kill()


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if found := LISTENING.search(line) or re.search(r"Uvicorn running on http://([\d.]+):(\d+)", line):
            time.sleep(0.5)
            return process, f"http://{found[1]}:{found[2]}"
        if "worker running" in line:
            return process, ""
    process.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU time of every PostgreSQL process on this machine (backends, WAL writer,
    checkpointer, autovacuum): what a run costs the server, where the bench owns the server."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name.startswith("postgres"):
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else float("nan")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(
    url: str, key: str, recipients: int, *, seconds: float, connections: int, offset: int, limit: int = 0
) -> dict[str, float]:
    """Drive ``POST /v1/messages`` (after ``limit`` requests, if set, only ``GET /healthz``)."""
    env = {**os.environ, "QASID_BENCH_KEY": key, "QASID_BENCH_RECIPIENTS": str(recipients),
           "QASID_BENCH_OFFSET": str(offset), "QASID_BENCH_LIMIT": str(limit)}  # fmt: skip
    command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "--timeout", "10s",
               "-s", str(HERE / "send.lua"), url]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict[str, float]:
    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not found:
            return float("nan")
        return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]

    requests = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    assert requests, output
    seconds = float(requests[2]) * (60 if requests[3] == "m" else 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", output)
    return {
        "requests": int(requests[1]),
        "seconds": seconds,
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": (int(errors[1]) if errors else 0) + (int(timeouts[1]) if timeouts else 0),
    }


def postgres_schema(base_url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(normalize_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    joiner = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{joiner}options={quote(f'-csearch_path={schema}')}"


def drop_schema(base_url: str, schema: str, tries: int = 10) -> None:
    """Drop the run's schema. A stopped gateway's backend may still be analyzing one of its tables
    (PostgreSQL notices the client is gone only when it next answers), and the drop can deadlock
    with it; it is tried again once that is done."""
    engine = create_engine(normalize_url(base_url))
    for attempt in range(tries):
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            break
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(2)
    engine.dispose()


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--databases", default="sqlite,postgresql")
    default_pg = os.environ.get("QASID_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgres-url", default=default_pg)


def on_database(database: str, postgres_url: str, label: str, run: Callable[[str], T]) -> T | None:
    """``run(url)`` on a fresh database: SQLite in a temporary file, or a new PostgreSQL schema
    (dropped afterwards). None, said aloud, when PostgreSQL cannot be reached."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return run(f"sqlite:///{tmp}/bench.db")
    if not postgres_reachable(postgres_url):
        print(f"# {label}: PostgreSQL unreachable at {postgres_url}; skipped", flush=True)
        return None
    schema, url = postgres_schema(postgres_url)
    try:
        return run(url)
    finally:
        drop_schema(postgres_url, schema)


def postgres_reachable(url: str) -> bool:
    try:
        create_engine(normalize_url(url)).connect().close()
    except OperationalError:
        return False
    return True
