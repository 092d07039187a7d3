"""From HTTP accept to delivered, through the carrier simulator: `python bench/e2e.py`.

For each database (SQLite in a temporary file; PostgreSQL when reachable) and each layout (one
`qasid serve` process; `qasid api` and two `qasid worker` processes) it seeds an account and a
simulator connector with no latency, sends 20,000 single-recipient requests with wrk (64
connections), waits until every message is delivered, and prints from the database: messages per
second end to end (first accept to last delivery), accept to delivered latency (p50/p99), the
processes' peak memory, and their CPU time per message. The baseline, in the same run, is the same
load on `qasid api` alone (accepting, no dispatch): end to end figures read as a share of it.
Bounded: each run gives up after --timeout seconds.

Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import func, select

from common import (
    HERE,
    PYTHON,
    add_database_arguments,
    cpu_seconds,
    end_load_once_accepted,
    on_database,
    peak_rss_mib,
    postgres_cpu_seconds,
    seed,
    start,
    stop,
)
from qasid.db import Database
from qasid.models import batches, message_events, messages

LAYOUTS = {
    "accept": "baseline: qasid api alone, accepting",
    "serve": "qasid serve",
    "split": "qasid api + 2 workers",
}
FAST_WORKER = {"QASID_DISPATCH_IDLE_POLL_SECONDS": "0.05", "QASID_LOG_LEVEL": "warning"}


@dataclass
class Result:
    label: str
    messages: int
    accept_per_s: float
    e2e_per_s: float | None  # None for the accept-only baseline
    p50_ms: float | None
    p99_ms: float | None
    peak_rss_mib: float
    cpu_ms_per_message: float
    postgres_cpu_ms_per_message: float | None = None  # every PostgreSQL process; None on SQLite


def messages_in(db: Database, status: str | None) -> int:
    """Messages in ``status`` (None: all messages)."""
    query = select(func.count()).select_from(messages)
    if status is not None:
        query = query.where(messages.c.status == status)
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def accept_times(db: Database) -> tuple[datetime, datetime]:
    with db.read() as conn:
        span = select(func.min(batches.c.created_at), func.max(batches.c.created_at))
        first, last = conn.execute(span).one()
    return first, last


def _explain(db: Database) -> None:
    """Say where the messages that did not arrive are."""
    from qasid.models import jobs  # noqa: PLC0415

    with db.read() as conn:
        stuck = conn.execute(
            select(
                messages.c.id,
                messages.c.recipient,
                messages.c.status,
                jobs.c.kind,
                jobs.c.attempts,
                jobs.c.last_error,
                jobs.c.claimed_by,
            )
            .outerjoin(jobs, jobs.c.message_id == messages.c.id)
            .where(messages.c.status != "delivered")
            .limit(5)
        ).all()
    for row in stuck:
        print(f"#   {row}", flush=True)


def timings(db: Database) -> tuple[list[float], datetime, datetime, datetime]:
    """Accept-to-delivered seconds per message; first accept, last accept, last delivery."""
    with db.read() as conn:
        rows = conn.execute(
            select(batches.c.created_at, message_events.c.at)
            .join(messages, messages.c.batch_id == batches.c.id)
            .join(message_events, message_events.c.message_id == messages.c.id)
            .where(message_events.c.status == "delivered")
        ).all()
    latencies = sorted((done - accepted).total_seconds() for accepted, done in rows)
    return latencies, min(a for a, _ in rows), max(a for a, _ in rows), max(d for _, d in rows)


def wrk_env(key: str, limit: int) -> dict[str, str]:
    return {**os.environ, "QASID_BENCH_KEY": key, "QASID_BENCH_RECIPIENTS": "1", "QASID_BENCH_OFFSET": "0",
            "QASID_BENCH_LIMIT": str(limit)}  # fmt: skip


def start_layout(url: str, layout: str) -> tuple[list[subprocess.Popen[str]], str]:
    env = {**os.environ, **FAST_WORKER, "QASID_DATABASE_URL": url, "QASID_PORT": "0"}
    if layout == "serve":
        process, base = start([PYTHON, "-m", "qasid", "serve"], env)
        return [process], base
    api, base = start([PYTHON, "-m", "qasid", "api"], env)
    if layout == "accept":
        return [api], base
    workers = [start([PYTHON, "-m", "qasid", "worker"], env)[0] for _ in range(2)]
    return [api, *workers], base


def run(label: str, url: str, layout: str, args: argparse.Namespace) -> Result | None:
    key = seed(url, simulator=True)
    db = Database(url)
    processes, base = start_layout(url, layout)
    try:
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        on_postgres = url.startswith("postgresql")
        postgres_before = postgres_cpu_seconds() if on_postgres else 0.0
        command = ["wrk", "-t1", f"-c{args.connections}", f"-d{int(args.timeout)}s", "-s",
                   str(HERE / "send.lua"), base]  # fmt: skip
        load = subprocess.Popen(
            command,
            env=wrk_env(key, args.messages),
            stdout=subprocess.DEVNULL,
        )
        awaited = None if layout == "accept" else "delivered"
        deadline = time.monotonic() + args.timeout
        while messages_in(db, awaited) < args.messages and time.monotonic() < deadline:
            end_load_once_accepted(load, db, args.messages)
            time.sleep(0.2)
        load.kill()
        cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
        postgres_cpu = postgres_cpu_seconds() - postgres_before if on_postgres else None
        rss = sum(peak_rss_mib(p.pid) for p in processes)
        done = messages_in(db, awaited)
        if done < args.messages:
            what = awaited or "accepted"
            print(f"# {label}: only {done} of {args.messages} {what} within {args.timeout:.0f} s", flush=True)
            _explain(db)
            return None
        if layout == "accept":
            first, last = accept_times(db)
            rate = done / max((last - first).total_seconds(), 1e-3)
            return Result(
                label, done, rate, None, None, None, rss, 1000 * cpu / done, per(postgres_cpu, done)
            )
        latencies, first, last_accept, last_delivery = timings(db)
    finally:
        for process in processes:
            stop(process)
        db.dispose()
    return Result(
        label,
        done,
        done / max((last_accept - first).total_seconds(), 1e-3),
        done / max((last_delivery - first).total_seconds(), 1e-3),
        1000 * statistics.median(latencies),
        1000 * latencies[int(0.99 * (len(latencies) - 1))],
        rss,
        1000 * cpu / done,
        per(postgres_cpu, done),
    )


def per(seconds: float | None, messages: int) -> float | None:
    """Milliseconds per message, or None where nothing was measured."""
    return None if seconds is None else 1000 * seconds / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--layouts", default="accept,serve,split", help="accept (the baseline), serve, split")
    add_database_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/e2e.py needs wrk: apt-get install wrk")
    results = [
        on_database(database, args.postgres_url, label, partial(run, label, layout=layout, args=args))
        for database in args.databases.split(",")
        for layout in args.layouts.split(",")
        for label in [f"{database}, {LAYOUTS[layout]}"]
    ]
    report([r for r in results if r is not None], args)


def report(results: list[Result], args: argparse.Namespace) -> None:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n# e2e: {args.messages} single-recipient requests, wrk -t1 -c{args.connections}, "
          f"simulator without latency, {os.cpu_count()} CPUs, {when}")  # fmt: skip
    print("| run | messages | accepted/s | end to end/s | vs accepting alone | accept to delivered p50 ms "
          "| p99 ms | peak RSS MiB (all processes) | CPU ms/message (all processes) "
          "| PostgreSQL CPU ms/message |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    baselines = {r.label.split(",")[0]: r.accept_per_s for r in results if r.e2e_per_s is None}

    def number(value: float | None, spec: str = ",.0f") -> str:
        return "-" if value is None else format(value, spec)

    for r in results:
        base = baselines.get(r.label.split(",")[0])
        ratio = r.e2e_per_s / base if base and r.e2e_per_s is not None else None
        cells = [r.label, str(r.messages), number(r.accept_per_s), number(r.e2e_per_s), number(ratio, ".2f"),
                 number(r.p50_ms), number(r.p99_ms), number(r.peak_rss_mib),
                 number(r.cpu_ms_per_message, ".3f"),
                 number(r.postgres_cpu_ms_per_message, ".3f")]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
