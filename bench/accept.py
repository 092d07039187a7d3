"""How fast the gateway accepts messages: `python bench/accept.py` (or `make bench`).

For each database (SQLite in a temporary file; PostgreSQL when reachable) and each request shape
(1 recipient per request; 500 per request), it starts `qasid serve` as its own process, drives it
with wrk (C, keep-alive connections) for a bounded time, and prints requests and messages accepted
per second, latency percentiles, and the server's peak memory. Every accepted message is counted in
the database afterwards: a message counts only if it was durably committed (SQLite
synchronous=FULL; PostgreSQL synchronous_commit=on). A baseline (the same framework and request
with no Qasid logic and no database, bench/baseline_app.py) runs in the same session so figures can
be read as ratios on this noisy, shared machine.

Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from qasid.accounts import service as accounts
from qasid.billing import service as billing
from qasid.billing.records import DEFAULT_SCOPE, Price
from qasid.db import Database, normalize_url
from qasid.migrations import upgrade
from qasid.models import messages
from qasid.senders import service as senders

HERE = Path(__file__).parent
PYTHON = sys.executable
LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


@dataclass
class Result:
    label: str
    requests_per_s: float
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    peak_rss_mib: float
    cpu_ms_per_message: float


def seed(url: str) -> str:
    """A rich account with sender 'Bench' and a price for Iraq; returns its API key."""
    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as conn:
        account = accounts.create_account(conn, "bench", now, amount=10**15)
        senders.add_sender(conn, account.id, "Bench", now, approved=True)
        billing.set_price(conn, Price(DEFAULT_SCOPE, "IQ", "*", "sms", "IQD", 1), now)
        _, key = accounts.create_key(conn, account, now)
    db.dispose()
    return key


def count_messages(url: str) -> int:
    db = Database(url)
    with db.read() as conn:
        found = int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
    db.dispose()
    return found


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if found := LISTENING.search(line) or re.search(r"Uvicorn running on http://([\d.]+):(\d+)", line):
            time.sleep(0.5)
            return process, f"http://{found[1]}:{found[2]}"
    process.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    url: str, key: str, recipients: int, *, seconds: float, connections: int, offset: int
) -> dict[str, float]:
    env = {**os.environ, "QASID_BENCH_KEY": key, "QASID_BENCH_RECIPIENTS": str(recipients),
           "QASID_BENCH_OFFSET": str(offset)}  # fmt: skip
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


def run_gateway(label: str, url: str, recipients: int, args: argparse.Namespace) -> Result:
    key = seed(url)
    env = {**os.environ, "QASID_DATABASE_URL": url, "QASID_LOG_LEVEL": "warning", "QASID_PORT": "0"}
    process, base = start([PYTHON, "-m", "qasid", "serve", "--port", "0"], env)
    try:
        connections = connections_for(recipients, args)
        wrk(base, key, recipients, seconds=args.warmup, connections=connections, offset=50_000_000)
        before, cpu_before = count_messages(url), cpu_seconds(process.pid)
        figures = wrk(base, key, recipients, seconds=args.duration, connections=connections, offset=0)
        cpu = cpu_seconds(process.pid) - cpu_before
        accepted = count_messages(url) - before
        rss = peak_rss_mib(process.pid)
    finally:
        stop(process)
    return Result(label, figures["requests"] / figures["seconds"], accepted / figures["seconds"],
                  figures["p50"], figures["p99"], int(figures["errors"]), rss,
                  1000 * cpu / max(accepted, 1))  # fmt: skip


def run_baseline(recipients: int, args: argparse.Namespace) -> Result:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    command = [PYTHON, "-m", "uvicorn", "baseline_app:app", "--port", "0", "--loop", "uvloop",
               "--http", "httptools", "--no-access-log", "--log-level", "info"]  # fmt: skip
    process, base = start(command, env)
    try:
        connections = connections_for(recipients, args)
        wrk(base, "none", recipients, seconds=args.warmup, connections=connections, offset=0)
        cpu_before = cpu_seconds(process.pid)
        figures = wrk(base, "none", recipients, seconds=args.duration, connections=connections, offset=0)
        cpu = cpu_seconds(process.pid) - cpu_before
        rss = peak_rss_mib(process.pid)
    finally:
        stop(process)
    rate = figures["requests"] / figures["seconds"]
    return Result(f"baseline (no logic, no database), {recipients}/request", rate, rate * recipients,
                  figures["p50"], figures["p99"], int(figures["errors"]), rss,
                  1000 * cpu / max(figures["requests"] * recipients, 1))  # fmt: skip


def connections_for(recipients: int, args: argparse.Namespace) -> int:
    """Big requests need fewer connections to keep the server busy (and keep latency meaningful)."""
    return args.connections if recipients == 1 else max(2, args.connections // 8)


def postgres_schema(base_url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(normalize_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    joiner = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{joiner}options={quote(f'-csearch_path={schema}')}"


def drop_schema(base_url: str, schema: str) -> None:
    engine = create_engine(normalize_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def postgres_reachable(url: str) -> bool:
    try:
        create_engine(normalize_url(url)).connect().close()
    except OperationalError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--shapes", default="1,500", help="recipients per request, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    default_pg = os.environ.get("QASID_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgres-url", default=default_pg)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/accept.py needs wrk: apt-get install wrk")
    shapes = [int(s) for s in args.shapes.split(",")]
    results = [run_baseline(shape, args) for shape in shapes]
    for database in args.databases.split(","):
        for shape in shapes:
            label = f"{database}, {shape}/request"
            if database == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    results.append(run_gateway(label, f"sqlite:///{tmp}/bench.db", shape, args))
            elif postgres_reachable(args.postgres_url):
                schema, url = postgres_schema(args.postgres_url)
                try:
                    results.append(run_gateway(label, url, shape, args))
                finally:
                    drop_schema(args.postgres_url, schema)
            else:
                print(f"# {label}: PostgreSQL unreachable at {args.postgres_url}; skipped", flush=True)
    report(results, args)


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\n# accept: {args.duration:.0f} s per run, {args.connections} connections, wrk -t1, "
          f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print("| run | requests/s | messages/s | vs baseline | p50 ms | p99 ms | errors | peak RSS MiB "
          "| server CPU ms/message |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    baselines = {r.label.rsplit(", ", 1)[1]: r for r in results if r.label.startswith("baseline")}
    for r in results:
        base = baselines.get(r.label.rsplit(", ", 1)[1])
        ratio = f"{r.requests_per_s / base.requests_per_s:.2f}" if base else "-"
        cells = [r.label, f"{r.requests_per_s:,.0f}", f"{r.messages_per_s:,.0f}", ratio, f"{r.p50_ms:.1f}",
                 f"{r.p99_ms:.1f}", str(r.errors), f"{r.peak_rss_mib:.0f}",
                 f"{r.cpu_ms_per_message:.3f}"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
