"""How fast the gateway accepts messages: `python bench/accept.py` (or `make bench`).

For each database (SQLite in a temporary file; PostgreSQL when reachable) and each request shape
(1 recipient per request; 500 per request), it starts `qasid api` as its own process, drives it
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
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from common import (
    HERE,
    PYTHON,
    add_database_arguments,
    count_messages,
    cpu_seconds,
    on_database,
    peak_rss_mib,
    seed,
    start,
    stop,
    wrk,
)


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


def run_gateway(label: str, url: str, recipients: int, args: argparse.Namespace) -> Result:
    key = seed(url)
    env = {**os.environ, "QASID_DATABASE_URL": url, "QASID_LOG_LEVEL": "warning", "QASID_PORT": "0"}
    # `qasid api`: accepting alone. (`qasid serve` would also dispatch, and with no route here it
    # would retry every message; bench/e2e.py measures the whole way.)
    process, base = start([PYTHON, "-m", "qasid", "api", "--port", "0"], env)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--shapes", default="1,500", help="recipients per request, comma-separated")
    add_database_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/accept.py needs wrk: apt-get install wrk")
    shapes = [int(s) for s in args.shapes.split(",")]
    results = [run_baseline(shape, args) for shape in shapes]
    for database in args.databases.split(","):
        for shape in shapes:
            label = f"{database}, {shape}/request"
            found = on_database(
                database, args.postgres_url, label, partial(run_gateway, label, recipients=shape, args=args)
            )
            if found is not None:
                results.append(found)
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
