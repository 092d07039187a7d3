"""Webhooks under load: `python bench/webhooks.py`.

For each database (SQLite in a temporary file; PostgreSQL in a fresh schema when reachable) and
each run below, on a fresh database: seed an account and the carrier simulator (no latency), start
one `qasid serve` (log level warning, webhooks allowed to reach 127.0.0.1/32), and send --messages
single-recipient requests with wrk (64 connections), so every state change comes from the real
pipeline (accept, dispatch through the simulator, its delivery report). wrk is stopped as soon as
every message is accepted: past its limit send.lua asks `GET /healthz`, which would take the
gateway's CPU from the deliveries (bench/e2e.py leaves it running; so its figures differ a little).
The runs:

- baseline: no endpoint registered; messages end to end (first accept to last delivered), as
  bench/e2e.py computes them. The webhook runs read as a ratio of it.
- final: one endpoint registered through `POST /v1/webhooks` for `message.status` with
  `statuses: final`, so each message makes exactly one event (its `delivered`); the receiver
  answers 204 to every call.
- failing: the same, with the receiver answering 500 to every other call it gets (exactly half of
  all calls), so deliveries are retried (short retry settings, printed, for every run).
- all (not run unless asked for with --runs): `statuses: all`, an event for every state change in
  the messages' histories (sent and delivered: two per message), checked against `message_events`.

The receiver is its own process (uvloop, a minimal HTTP/1.1 keep-alive server), so its CPU is not
the gateway's. For each 2xx it keeps the `webhook-id` header, the body's `timestamp` (written when
the state changed, in the same transaction) and its own wall clock (time.time()) as it answers;
the bench gets them through a pipe at the end. Per event: latency = the receiver's 2xx time minus
the event's timestamp; deliveries per second = events / (last 2xx - first event timestamp). A run
waits until every message is delivered and no delivery is pending (read from the database), or
--timeout. That the receiver is not the limit: before the runs, wrk drives it alone closed loop at
the sender's per-endpoint concurrency (64 by default) and at 64 connections, and every run prints
its CPU share and how many connections the gateway held open to it at once.

Checked in every run, and printed when wrong: every delivery the database calls delivered reached
the receiver with a 2xx, and nothing else did (lost, unknown, duplicates); one event per message
(final); tries recorded in the database equal the calls the receiver got; the Standard Webhooks
signature of the first calls verifies with the endpoint's secret; the gateway logged nothing at
warning or above.

Bounded: every run gives up after --timeout seconds and every process is stopped. --pid-file
writes each gateway's pid (for `py-spy record -p PID --gil`).

Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import func, select
from standardwebhooks import Webhook

import qasid
from common import (
    HERE,
    PYTHON,
    add_database_arguments,
    cpu_seconds,
    end_load_once_accepted,
    on_database,
    parse_wrk,
    peak_rss_mib,
    seed,
    start,
    stop,
)
from e2e import FAST_WORKER, timings, wrk_env
from qasid.db import Database
from qasid.models import message_events, messages, webhook_attempts, webhook_deliveries
from qasid.settings import Settings

RUNS = {
    "baseline": "baseline: no endpoint",
    "final": "webhooks, statuses final, receiver 204",
    "failing": "webhooks, statuses final, receiver fails half",
    "all": "webhooks, statuses all, receiver 204",
}
RETRY = {"QASID_WEBHOOK_RETRY_BASE_SECONDS": "0.2", "QASID_WEBHOOK_RETRY_CAP_SECONDS": "1"}
SAMPLES = 20  # calls whose headers and body the receiver keeps, to check their signatures
LOG_LINE = re.compile(r"^(\w+) - [^-]+-[^-]+-[^-]+ - ([\w.]+) - ")  # Litestar's standard log format
OK = b"HTTP/1.1 204 No Content\r\n\r\n"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\nfails"


# The receiver: its own process, uvloop, HTTP/1.1 keep-alive over an asyncio protocol


@dataclass
class Received:
    calls: int = 0
    failed: int = 0  # calls answered 500
    ok: list[tuple[str, str, float]] = field(default_factory=list)  # (webhook-id, timestamp, 2xx time)
    samples: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # headers, body
    connections: int = 0  # opened
    open_now: int = 0
    peak_open: int = 0  # the most open at once


class ReceiverProtocol(asyncio.Protocol):
    """Answers each request as soon as it is whole: 204, or 500 to every other call when failing."""

    def __init__(self, state: Received, failing: bool) -> None:
        self.state = state
        self.failing = failing
        self.buffer = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.state.connections += 1
        self.state.open_now += 1
        self.state.peak_open = max(self.state.peak_open, self.state.open_now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.open_now -= 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        state = self.state
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            length = int(lower[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            total = end + 4 + length
            if len(self.buffer) < total:
                break
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            state.calls += 1
            if self.failing and state.calls % 2 == 1:
                state.failed += 1
                out.append(FAIL)
                continue
            now = time.time()
            state.ok.append((header(head, lower, b"webhook-id"), timestamp(body), now))
            if len(state.samples) < SAMPLES:
                names = (b"webhook-id", b"webhook-timestamp", b"webhook-signature")
                state.samples.append(({n.decode(): header(head, lower, n) for n in names}, body))
            out.append(OK)
        if out:
            self.transport.write(b"".join(out))


def header(head: bytes, lower: bytes, name: bytes) -> str:
    at = lower.find(b"\r\n" + name + b":")
    if at < 0:
        return ""
    value = head[at + len(name) + 3 :].split(b"\r\n", 1)[0]
    return value.strip().decode()


def timestamp(body: bytes) -> str:
    at = body.find(b'"timestamp":"')
    return body[at + 13 : body.find(b'"', at + 13)].decode() if at >= 0 else ""


def receiver(pipe: Pipe, failing: bool) -> None:
    """The receiver process: say its port, answer calls until told to stop, send back what it got."""
    state = Received()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: ReceiverProtocol(state, failing), "127.0.0.1", 0, backlog=1024
        )
        pipe.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, pipe.poll, 3600)
        pipe.recv()
        server.close()

    uvloop.run(main())
    pipe.send(vars(state))  # plain data: the class is another module's in the parent
    pipe.close()


class Receiver:
    """A receiver process: ``with Receiver(failing) as r``, then ``r.port``, ``r.cpu()``,
    ``r.finish()``."""

    def __init__(self, failing: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=receiver, args=(theirs, failing), daemon=True)
        self.port = 0

    def __enter__(self) -> Receiver:
        self.process.start()
        if not self.pipe.poll(60):
            self.process.kill()
            raise SystemExit("the receiver did not start")
        self.port = self.pipe.recv()
        return self

    def cpu(self) -> float:
        assert self.process.pid is not None
        return cpu_seconds(self.process.pid)

    def finish(self) -> Received:
        self.pipe.send("stop")
        if not self.pipe.poll(60):
            raise SystemExit("the receiver did not hand back what it got")
        return Received(**self.pipe.recv())

    def __exit__(self, *_: object) -> None:
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


CHECK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "evt_check"
wrk.headers["webhook-timestamp"] = "1700000000"
wrk.headers["webhook-signature"] = "v1,%s"
wrk.body = '%s'
"""
CHECK_BODY = (
    '{"type":"message.status","timestamp":"2026-01-01T00:00:00.000000Z","data":{"id":"msg_0123456789abcdef",'
    '"batch_id":"bat_0123456789abcdef","to":"+9647800000001","channel":"sms","status":"delivered",'
    '"error_code":null,"client_ref":null,"sequence":7}}'
)


def receiver_check(connections: int, seconds: float) -> str:
    """The receiver alone, closed loop (wrk, ``connections`` keep-alive connections, POSTs of an
    event's size): what it answers when the gateway costs nothing."""
    with tempfile.TemporaryDirectory() as tmp, Receiver(failing=False) as alone:
        script = Path(tmp) / "post.lua"
        script.write_text(CHECK_LUA % ("A" * 44, CHECK_BODY))
        before = alone.cpu()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script),
                   f"http://127.0.0.1:{alone.port}/hook"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu = alone.cpu() - before
        got = alone.finish()
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    found = parse_wrk(done.stdout)
    rate = found["requests"] / found["seconds"]
    return (f"{rate:,.0f} calls/s ({got.calls:,} answered), p50 {found['p50']:.2f} ms, "
            f"p99 {found['p99']:.2f} ms, receiver {cpu / found['seconds']:.0%} of a core")  # fmt: skip


# The gateway


@dataclass
class Result:
    label: str
    database: str
    run: str
    messages: int
    events: int  # deliveries delivered (0 for the baseline)
    e2e_per_s: float  # messages, first accept to last delivered
    deliveries_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    tries_per_event: float | None
    max_tries: int | None
    cpu_ms: float  # gateway CPU per event (per message for the baseline)
    peak_rss_mib: float
    receiver_share: float | None  # the receiver's CPU, as a share of one core over the run
    problems: list[str] = field(default_factory=list)


class GatewayLog:
    """Keeps reading the gateway's output (a full pipe would stall it), counting its lines by kind
    (level and logger) and keeping the first of each kind. The log level is warning: any line is
    news."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.kinds: Counter[tuple[str, str]] = Counter()
        self.first: dict[tuple[str, str], str] = {}
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            found = LOG_LINE.match(line)
            kind = (found[1], found[2]) if found else ("other", line[:60].strip())
            self.kinds[kind] += 1
            self.first.setdefault(kind, line.rstrip())

    def __bool__(self) -> bool:
        return bool(self.kinds)


def register(base: str, key: str, url: str, statuses: str) -> tuple[str, str]:
    """A webhook endpoint for ``message.status``, through the API: (its id, its secret)."""
    body = json.dumps({"url": url, "events": ["message.status"], "statuses": statuses}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own server, on loopback
        f"{base}/v1/webhooks",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        created = json.loads(answer.read())
    return created["id"], created["secret"]


def progress(db: Database) -> tuple[int, int, int]:
    """Messages delivered, deliveries, deliveries pending."""
    d = webhook_deliveries.c
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                select(
                    select(func.count()).select_from(messages).where(messages.c.status == "delivered")
                    .scalar_subquery(),
                    select(func.count()).select_from(webhook_deliveries).scalar_subquery(),
                    select(func.count()).select_from(webhook_deliveries).where(d.status == "pending")
                    .scalar_subquery(),
                )
            ).one()
        )  # fmt: skip


def gateway_env(url: str) -> dict[str, str]:
    return {**os.environ, **FAST_WORKER, **RETRY, "QASID_DATABASE_URL": url, "QASID_PORT": "0",
            "QASID_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}  # fmt: skip


def run(label: str, url: str, database: str, kind: str, args: argparse.Namespace) -> Result | None:
    key = seed(url, simulator=True)
    db = Database(url)
    gateway, base = start([PYTHON, "-m", "qasid", "serve"], gateway_env(url))
    log = GatewayLog(gateway)
    if args.pid_file:
        Path(args.pid_file).write_text(f"{gateway.pid}\n")
    load_average = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"# {label}: gateway pid {gateway.pid} at {base}; load average {load_average}", flush=True)
    try:
        with Receiver(failing=kind == "failing") as hook:
            secret = None
            if kind != "baseline":
                statuses = "all" if kind == "all" else "final"
                _, secret = register(base, key, f"http://127.0.0.1:{hook.port}/hook", statuses)
            cpu_before, hook_before, began = cpu_seconds(gateway.pid), hook.cpu(), time.monotonic()
            command = ["wrk", "-t1", f"-c{args.connections}", f"-d{int(args.timeout)}s", "-s",
                       str(HERE / "send.lua"), base]  # fmt: skip
            load = subprocess.Popen(command, env=wrk_env(key, args.messages), stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline and gateway.poll() is None:
                delivered, deliveries, pending = progress(db)
                end_load_once_accepted(load, db, args.messages)
                if delivered >= args.messages and pending == 0 and (kind == "baseline" or deliveries):
                    break
                time.sleep(0.2)
            load.kill()
            load.wait()
            cpu = cpu_seconds(gateway.pid) - cpu_before
            hook_share = (hook.cpu() - hook_before) / (time.monotonic() - began)
            rss = peak_rss_mib(gateway.pid)
            got = hook.finish()
        delivered, deliveries, pending = progress(db)
        if gateway.poll() is not None:
            print(f"# {label}: PROBLEM: the gateway exited ({gateway.returncode}) during the run", flush=True)
        if delivered < args.messages or pending:
            print(f"# {label}: within {args.timeout:.0f} s only {delivered} of {args.messages} messages "
                  f"delivered; {pending} of {deliveries} webhook deliveries still pending",
                  flush=True)  # fmt: skip
            print_log(label, log)
            return None
        _, first_accept, _, last_delivery = timings(db)
        e2e = delivered / max((last_delivery - first_accept).total_seconds(), 1e-3)
        if kind == "baseline":
            if log:
                print_log(label, log)
            problems = log_problems(log)
            return Result(label, database, kind, delivered, 0, e2e, None, None, None, None, None,
                          1000 * cpu / delivered, rss, None, problems)  # fmt: skip
        assert secret is not None
        done = Finished(label, database, kind, got, secret, e2e, cpu, rss, hook_share, log)
        return measure(done, db, args)
    finally:
        stop(gateway)
        db.dispose()


@dataclass
class Finished:
    """What a webhook run leaves to measure, besides the database."""

    label: str
    database: str
    kind: str
    got: Received
    secret: str
    e2e: float
    cpu: float
    rss: float
    hook_share: float
    log: GatewayLog


def measure(done: Finished, db: Database, args: argparse.Namespace) -> Result:
    """The webhook figures of a finished run, and everything that disagrees."""
    label, kind, got, log = done.label, done.kind, done.got, done.log
    d = webhook_deliveries.c
    with db.read() as conn:
        rows = conn.execute(select(d.event_id, d.subject_id, d.status, d.attempts)).all()
        tries = int(conn.execute(select(func.count()).select_from(webhook_attempts)).scalar_one())
        answered = Counter(conn.execute(select(webhook_attempts.c.status_code)).scalars())
        history = int(conn.execute(select(func.count()).select_from(message_events)).scalar_one())
    delivered = {r.event_id for r in rows if r.status == "delivered"}
    statuses = Counter(r.status for r in rows)
    first_ok: dict[str, tuple[str, float]] = {}
    for event_id, stamp, at in got.ok:
        first_ok.setdefault(event_id, (stamp, at))
    problems = []
    lost, unknown = delivered - first_ok.keys(), first_ok.keys() - delivered
    duplicates = len(got.ok) - len(first_ok)
    if lost or unknown or duplicates:
        problems.append(f"{len(lost)} delivered in the database but never answered 2xx by the receiver, "
                        f"{len(unknown)} answered 2xx but not delivered in the database, "
                        f"{duplicates} 2xx answers to a webhook-id already answered")  # fmt: skip
    if set(statuses) != {"delivered"}:
        problems.append(f"deliveries by status: {dict(statuses)}")
    if kind != "all" and (len(rows) != args.messages or len({r.subject_id for r in rows}) != args.messages):
        problems.append(f"{len(rows)} deliveries for {len({r.subject_id for r in rows})} messages; "
                        f"expected exactly one for each of {args.messages}")  # fmt: skip
    if kind == "all" and len(rows) != history:
        problems.append(f"{len(rows)} deliveries for {history} state changes in the messages' histories")
    if tries != got.calls or tries != sum(r.attempts for r in rows):
        problems.append(f"{tries} tries recorded, {sum(r.attempts for r in rows)} counted on the deliveries, "
                        f"{got.calls} calls received")  # fmt: skip
    if kind == "failing" and got.failed != got.calls // 2:
        problems.append(f"the receiver failed {got.failed} of {got.calls} calls")
    bad = unsigned(got.samples, done.secret)
    if bad:
        problems.append(f"{bad} of {len(got.samples)} sampled signatures do not verify")
    if log:
        print_log(label, log)
    problems += log_problems(log)
    events = {
        event_id: datetime.fromisoformat(stamp).timestamp() for event_id, (stamp, _) in first_ok.items()
    }
    waits = sorted(at - events[event_id] for event_id, (_, at) in first_ok.items())
    last_ok = max(at for _, at in first_ok.values())
    deliveries_per_s = len(first_ok) / max(last_ok - min(events.values()), 1e-3)
    other = {code: n for code, n in answered.items() if code is None or not 200 <= code < 300}
    print(f"# {label}: {len(first_ok):,} events, {tries:,} tries (answers other than 2xx: "
          f"{other or 'none'}), receiver saw {got.calls:,} calls on {got.connections} connections "
          f"(at most {got.peak_open} open at once)",
          flush=True)  # fmt: skip
    return Result(
        label,
        done.database,
        kind,
        args.messages,
        len(first_ok),
        done.e2e,
        deliveries_per_s,
        1000 * statistics.median(waits),
        1000 * waits[int(0.99 * (len(waits) - 1))],
        tries / max(len(rows), 1),
        max((r.attempts for r in rows), default=0),
        1000 * done.cpu / max(len(first_ok), 1),
        done.rss,
        done.hook_share,
        problems,
    )


def unsigned(samples: list[tuple[dict[str, str], bytes]], secret: str) -> int:
    """How many sampled calls fail Standard Webhooks verification with the endpoint's secret."""
    signer, bad = Webhook(secret), 0
    for headers, body in samples:
        try:
            signer.verify(body, headers)
        except Exception:  # noqa: BLE001 - any failure to verify counts
            bad += 1
    return bad


def log_problems(log: GatewayLog) -> list[str]:
    """Lines at warning or above (or that are not log lines: a traceback, say) are problems; INFO
    lines, which the log level should have kept out, are noted apart."""
    levels: Counter[str] = Counter()
    for (level, _), count in log.kinds.items():
        levels[level] += count
    quiet = levels.pop("INFO", 0) + levels.pop("DEBUG", 0)
    problems = [f"the gateway logged {n} lines at {level}" for level, n in levels.items()]
    if quiet:
        problems.append(f"(noise, not a failure) {quiet} INFO lines despite QASID_LOG_LEVEL=warning")
    return problems


def print_log(label: str, log: GatewayLog) -> None:
    for (level, name), count in log.kinds.most_common():
        first = log.first[(level, name)][:300]
        print(f"#   {label} log: {count} x {level} {name}, first: {first}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", default="baseline,final,failing", help=", ".join(RUNS))
    parser.add_argument("--check-seconds", type=float, default=3, help="the receiver alone, closed loop")
    parser.add_argument("--pid-file", help="write each gateway's pid here (for py-spy)")
    add_database_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/webhooks.py needs wrk: apt-get install wrk")
    unknown = set(args.runs.split(",")) - RUNS.keys()
    if unknown:
        raise SystemExit(f"unknown runs {sorted(unknown)}: choose from {', '.join(RUNS)}")
    env = gateway_env("")
    settings = {k: env[k] for k in sorted(env) if k.startswith("QASID_") and k != "QASID_DATABASE_URL"}
    print(f"# qasid {qasid.__version__} from {Path(qasid.__file__).parent}; gateway settings (every run): "
          f"{settings}", flush=True)  # fmt: skip
    default = Settings.model_fields["webhook_endpoint_max_in_flight"].default
    per_endpoint = int(os.environ.get("QASID_WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", default))
    for connections in sorted({per_endpoint, 64}):  # the cap per endpoint; the claim batch (64)
        print(f"# the receiver alone, wrk -c{connections}: {receiver_check(connections, args.check_seconds)}",
              flush=True)  # fmt: skip
    results = [
        on_database(database, args.postgres_url, label,
                    partial(run, label, database=database, kind=kind, args=args))
        for database in args.databases.split(",")
        for kind in args.runs.split(",")
        for label in [f"{database}, {RUNS[kind]}"]
    ]  # fmt: skip
    report([r for r in results if r is not None], args)


def report(results: list[Result], args: argparse.Namespace) -> None:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n# webhooks: {args.messages} single-recipient requests, wrk -t1 -c{args.connections}, one "
          f"`qasid serve`, simulator without latency, {os.cpu_count()} CPUs, {when}")  # fmt: skip
    print("| run | events | messages end to end/s | deliveries/s | vs baseline messages/s "
          "| state change → 2xx p50 ms | p99 ms | tries/event (max) | gateway CPU ms/event "
          "| of it beyond the baseline | peak RSS MiB | receiver CPU |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    baselines = {r.database: r for r in results if r.run == "baseline"}

    def number(value: float | None, spec: str = ",.0f") -> str:
        return "-" if value is None else format(value, spec)

    for r in results:
        base = baselines.get(r.database)
        ratio = extra = None
        if base is not None and r.deliveries_per_s is not None and r.events:
            ratio = r.deliveries_per_s / base.e2e_per_s
            extra = r.cpu_ms - base.cpu_ms * r.messages / r.events  # the messages' own share taken out
        tries = "-" if r.tries_per_event is None else f"{r.tries_per_event:.2f} ({r.max_tries})"
        cells = [r.label, f"{r.events or r.messages:,}", number(r.e2e_per_s), number(r.deliveries_per_s),
                 number(ratio, ".2f"), number(r.p50_ms), number(r.p99_ms), tries, number(r.cpu_ms, ".3f"),
                 number(extra, ".3f"), number(r.peak_rss_mib),
                 number(r.receiver_share, ".0%")]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    for r in results:
        for problem in r.problems:
            print(f"# {'NOTE' if problem.startswith('(noise') else 'PROBLEM'} {r.label}: {problem}")
    if not any(not p.startswith("(noise") for r in results for p in r.problems):
        print("# checks: no lost, unknown or duplicate events; tries recorded = calls received; "
              "signatures verify; nothing at warning or above in the gateways' logs")  # fmt: skip


if __name__ == "__main__":
    main()
