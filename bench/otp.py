"""Verifications (OTP) at a fixed rate: `python bench/otp.py`.

For each database (SQLite in a temporary file; PostgreSQL in a fresh schema when reachable) it seeds
an account (sender "Bench", an SMS price for Iraq, the carrier simulator with no latency routing
everything), starts one `qasid serve` process with the OTP limits raised (the account's pending
limit and the per-number and per-block limits: the run measures throughput, not refusals) and
drives create-then-check pairs at fixed rates, stepped up (--rates, each for --seconds):
`POST /v1/verifications` with a fresh Zain number (+96478 and eight digits, a permutation of a
counter, so consecutive pairs fall in different blocks of a thousand numbers; clear of the
simulator's fixed test numbers) and a 6-digit code the bench supplies, then
`POST /v1/verifications/{id}/check` with that code, which must answer `approved`, --check-delay
seconds (1 by default) after the create answered, on whichever connection is free, as a person who
reads the SMS first would: so every code's SMS is sent and its receipt taken, as in real traffic
("their SMS delivered" in the summary). With --check-delay 0 each check goes at once on the
create's connection, and most codes are checked before their SMS has left: the gateway then drops
and refunds those SMS instead of sending them, and the run carries less work than real traffic
(the figures in docs/performance.md before 2026-12-07 19:30 UTC were measured so). Every 429,
other non-2xx answer, transport error and check that does not approve is a failure of the run; the
first answer of each kind is printed. --pending N first creates N verifications (at 500 a second,
fresh numbers too) and never checks them, as users who never type their code: the account then
carries N pending through the steps, as a busy one does.

The load is open loop: pair i starts at t0 + i/rate whether or not earlier pairs have finished,
and a create's latency counts from that scheduled start (so time spent queueing for a connection
or behind a late event loop is not hidden); a check's counts from the moment it was due (its
create's answer, plus --check-delay). With a delay, a step's first second carries creates only and
the second after its last create checks only: at 6 s a step and 1 s of delay, five sixths of it
run at the full rate of both.
The generator runs in its own process (uvloop, a hand-rolled HTTP/1.1 keep-alive client, up to
--connections connections opened as needed). That it is not the limit is shown three ways: first,
alone against a stub server (its own process, answering at once) at the top rate; then, per
database, closed loop against `GET /healthz`; and in every step, its CPU and how late it started
pairs. Stepping stops at the first step whose p99 exceeds --stop-factor times --p99-limit, that
fails a request, or that falls short of its rate. Per step and database it prints the offered and
achieved pairs/s, p50/p99 of each call, failures, the server's CPU per pair (all its threads,
including the dispatcher sending the codes through the simulator, counted until it is idle again),
the PostgreSQL backends' CPU per pair (the backends of the server's connections, found through
/proc and pg_stat_activity), the server's peak RSS; then the highest rate held with both p99
under --p99-limit ms, and from the database how many verifications ended approved and how many of
their SMS were delivered.

Bounded: a step waits at most --drain seconds for its last pairs, every request times out after
--request-timeout seconds, no step starts after --budget seconds of a database's run, and the
server is always stopped. To profile the server while a step runs, --server-pid-file writes its
pid (`py-spy record -p PID --gil -f raw -o out.txt -d 10`); --server-env adds settings. --timeline
appends every answered pair (start, create and check latency) to a CSV file and prints each step's
slowest quarter-seconds: a p99 made by a few stalls looks different from one made by a whole step.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import multiprocessing
import os
import secrets
import subprocess
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import msgspec
import uvloop
from sqlalchemy import func, select, text

from common import (
    PYTHON,
    add_database_arguments,
    cpu_seconds,
    on_database,
    peak_rss_mib,
    seed,
    start,
    stop,
)
from qasid.db import Database
from qasid.models import messages, verifications

DEFAULT_RATES = "50,100,150,200,300,500,750,1000,1250,1500"
RAISED_LIMITS = {  # the bench measures throughput, not refusals: every pair has its own number anyway
    "QASID_OTP_ACCOUNT_ACTIVE_LIMIT": str(10**9),
    "QASID_OTP_NUMBER_DAILY_LIMIT": str(10**6),
    "QASID_OTP_NUMBER_WINDOW_LIMIT": str(10**6),
    "QASID_OTP_PREFIX_LIMIT": str(10**6),  # the per-block (pumping) limit: 30 an hour by default
}
PENDING_RATE = 500.0  # creates a second while --pending verifications are made
clock = time.perf_counter  # uvloop's loop.time() moves in whole milliseconds
KEEP_ALIVE = 4.0  # s a connection may sit idle and still be used: uvicorn closes them after 5 s
SPREAD = 48_271_063  # odd and not a multiple of 5: n -> n * SPREAD mod 10**8 permutes the 8 digits


# The load generator: its own process, uvloop, HTTP/1.1 keep-alive over asyncio protocols


@dataclass
class Load:
    host: str
    port: int
    key: str
    mode: str  # "pairs" (open loop at ``rate``), "creates" (the same, never checked) or "healthz"
    # (closed loop, ``connections`` at once)
    rate: float
    seconds: float
    offset: int  # the first pair's number in the counter
    connections: int
    request_timeout: float
    drain: float
    check_delay: float = 0.0  # s from a create's answer to its check


@dataclass
class LoadResult:
    pairs: int  # scheduled
    approved: int  # pairs whose check answered approved
    window_s: float  # first scheduled start to the last pair finished, less the check delay (at least
    # the schedule's length)
    create_ms: list[float]  # per pair that got a create answer: from its scheduled start
    check_ms: list[float]  # from the check's due time (the create's answer + check_delay) to its answer
    pair_ms: list[float]  # create's and check's latency together (the delay between them left out)
    lag_ms: list[float]  # how late each pair's task began, after its scheduled start
    failures: dict[str, int]
    cpu_s: float  # the generator's own CPU in the window
    opened: int  # connections opened
    requests: int = 0  # healthz mode
    examples: dict[str, str] = field(default_factory=dict)  # the first answer of each kind of failure
    # per pair whose check answered: (scheduled start, s from the first; create ms; check ms)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)


class Created(msgspec.Struct):
    id: str


class Checked(msgspec.Struct):
    status: str


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; answers read by Content-Length."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.broken = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's are not asyncio.Transport subclasses

    def request(self, data: bytes, timeout: float) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        if self.broken or self.transport.is_closing():
            raise ConnectionError("the connection was closed")
        self.waiter = self.loop.create_future()
        self.timer = self.loop.call_later(timeout, self._fail, TimeoutError("no answer in time"))
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(ConnectionError("an answer without Content-Length"))
            return
        stop_at = head.find(b"\r\n", at + 2)
        total = end + 4 + int(head[at + 17 : stop_at if stop_at > 0 else None])
        if len(self.buffer) < total:
            return
        status, body = int(head[9:12]), bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        if b"\r\nconnection: close" in head:
            self.broken = True
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
        if not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("closed by the server"))

    def _fail(self, exc: BaseException) -> None:
        self.broken = True
        if self.timer is not None:
            self.timer.cancel()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle connections first; a new one while fewer than ``limit`` are open; else wait in line."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[HttpConnection] = []
        self.waiting: deque[asyncio.Future[HttpConnection]] = deque()
        self.open = self.opened = 0

    async def acquire(self) -> HttpConnection:
        while self.idle:
            conn = self.idle.pop()  # the most recently used: cold ones age out
            if conn.broken or clock() - conn.idle_since > KEEP_ALIVE:
                self._discard(conn)
                continue
            return conn
        if self.open < self.limit:
            self.open += 1
            try:
                _, conn = await asyncio.get_running_loop().create_connection(
                    HttpConnection, self.host, self.port
                )
            except BaseException:
                self.open -= 1
                raise
            self.opened += 1
            return conn
        waiter: asyncio.Future[HttpConnection] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        return await waiter

    def _discard(self, conn: HttpConnection) -> None:
        self.open -= 1
        conn.broken = True
        if conn.transport is not None:
            conn.transport.close()

    def release(self, conn: HttpConnection) -> None:
        if conn.broken:
            self._discard(conn)
            if self.waiting:  # a slot is free: the next in line opens a connection of its own
                asyncio.get_running_loop().create_task(self._hand_new(self.waiting.popleft()))
            return
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = clock()
        self.idle.append(conn)

    async def _hand_new(self, waiter: asyncio.Future[HttpConnection]) -> None:
        try:
            conn = await self.acquire()
        except OSError as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter.done():
            self.release(conn)
        else:
            waiter.set_result(conn)

    async def warm(self, count: int) -> None:
        conns = [await self.acquire() for _ in range(min(count, self.limit))]
        for conn in conns:
            self.release(conn)

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()


def subscriber(number: int) -> int:
    """The 8 digits after +96478 for pair ``number``: distinct for 10**8 pairs, and consecutive pairs
    fall in different blocks of a thousand numbers, as real traffic does."""
    return number * SPREAD % 10**8


def code_for(number: int) -> str:
    return f"{(number * 7_919 + 104_729) % 1_000_000:06d}"


def post(path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def drive_pairs(load: Load) -> LoadResult:
    loop = asyncio.get_running_loop()
    pool = Pool(load.host, load.port, load.connections)
    await pool.warm(min(load.connections, max(8, math.ceil(load.rate * 0.02))))  # ~20 ms of pairs
    total = max(1, round(load.rate * load.seconds))
    create_ms: list[float] = []
    check_ms: list[float] = []
    pair_ms: list[float] = []
    lag_ms: list[float] = []
    timeline: list[tuple[float, float, float]] = []
    failures: Counter[str] = Counter()
    examples: dict[str, str] = {}  # the first answer of each kind of failure
    approved = 0
    last_done = 0.0
    decode_created = msgspec.json.Decoder(Created).decode
    decode_checked = msgspec.json.Decoder(Checked).decode

    def fail(kind: str, answer: bytes) -> None:
        failures[kind] += 1
        examples.setdefault(kind, answer[:300].decode(errors="replace"))

    async def pair(number: int, scheduled: float) -> None:
        nonlocal approved, last_done
        lag_ms.append(1000 * (clock() - scheduled))
        conn, step = None, "connect"
        try:
            conn = await pool.acquire()
            step = "create"
            code = code_for(number)
            body = b'{"to":"+96478%08d","sender":"Bench","code":"%s"}' % (subscriber(number), code.encode())
            status, answer = await conn.request(
                post("/v1/verifications", load.key, body), load.request_timeout
            )
            created = clock()
            if status != 201:
                fail(f"create {status}", answer)
                return
            create_took = 1000 * (created - scheduled)
            create_ms.append(create_took)
            if load.mode == "creates":
                approved += 1  # here: created, left pending
                last_done = max(last_done, created)
                return
            step = "check"
            found = decode_created(answer).id
            check = post(f"/v1/verifications/{found}/check", load.key, b'{"code":"%s"}' % code.encode())
            if load.check_delay:
                pool.release(conn)
                conn = None
                await asyncio.sleep(max(0.0, created + load.check_delay - clock()))
                conn = await pool.acquire()
            status, answer = await conn.request(check, load.request_timeout)
            done = clock()
            if status != 200:
                fail(f"check {status}", answer)
                return
            check_took = 1000 * (done - created - load.check_delay)
            check_ms.append(check_took)
            pair_ms.append(create_took + check_took)  # this pair's: other pairs append meanwhile
            timeline.append((scheduled - t0, create_took, check_took))
            last_done = max(last_done, done)
            result = decode_checked(answer).status
            if result == "approved":
                approved += 1
            else:
                fail(f"check answered {result}", answer)
        except asyncio.CancelledError:
            if conn is not None:
                conn.broken = True  # its answer may still come: the connection cannot be reused
            failures[f"{step} unfinished after the drain"] += 1
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is counted, by its kind
            if conn is not None:
                conn.broken = True
            fail(f"{step} {type(exc).__name__}", str(exc).encode())
        finally:
            if conn is not None:
                pool.release(conn)

    tasks: set[asyncio.Task[None]] = set()
    cpu_before = time.process_time()
    t0 = clock() + 0.01
    started = 0
    while started < total:
        due = min(total, int((clock() - t0) * load.rate) + 1)
        while started < due:
            task = loop.create_task(pair(load.offset + started, t0 + started / load.rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            started += 1
        await asyncio.sleep(max(0.0, t0 + started / load.rate - clock()))
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=load.drain + load.check_delay)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5)
    cpu = time.process_time() - cpu_before
    pool.close()
    window = max(load.seconds, last_done - t0 - load.check_delay)
    return LoadResult(total, approved, window, create_ms, check_ms, pair_ms, lag_ms, dict(failures), cpu,
                      pool.opened, examples=examples, timeline=timeline)  # fmt: skip


async def drive_healthz(load: Load) -> LoadResult:
    """Closed loop: ``connections`` clients each asking GET /healthz again as soon as answered."""
    pool = Pool(load.host, load.port, load.connections)
    await pool.warm(load.connections)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    failures: Counter[str] = Counter()
    done = 0
    began = clock()
    deadline = began + load.seconds
    cpu_before = time.process_time()

    async def client() -> None:
        nonlocal done
        while clock() < deadline:
            conn = await pool.acquire()
            try:
                status, _ = await conn.request(request, load.request_timeout)
                if status == 200:
                    done += 1
                else:
                    failures[f"healthz {status}"] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted, by its kind
                conn.broken = True
                failures[f"healthz {type(exc).__name__}"] += 1
            finally:
                pool.release(conn)

    await asyncio.wait_for(
        asyncio.gather(*(client() for _ in range(load.connections))),
        load.seconds + load.request_timeout + 5,
    )
    cpu = time.process_time() - cpu_before
    elapsed = clock() - began
    pool.close()
    return LoadResult(0, 0, elapsed, [], [], [], [], dict(failures), cpu, pool.opened, requests=done)


def generator(pipe: Pipe, load: Load) -> None:
    """The generator process: say ready, wait for go, drive, send back the result."""

    async def main() -> LoadResult:
        pipe.send("ready")
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, pipe.poll, 60):
            raise SystemExit("no go from the bench")
        pipe.recv()
        return await (drive_healthz(load) if load.mode == "healthz" else drive_pairs(load))

    pipe.send(asdict(uvloop.run(main())))
    pipe.close()


def run_generator(load: Load, on_go: Any = None) -> LoadResult:
    """Run ``load`` in a generator process; ``on_go()`` is called just before it starts driving."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=generator, args=(theirs, load), daemon=True)
    process.start()
    try:
        await_answer(ours, process, 60, "start")
        ours.recv()
        if on_go is not None:
            on_go()
        ours.send("go")
        await_answer(ours, process, load.seconds + load.drain + load.request_timeout + 30, "finish")
        return LoadResult(**ours.recv())
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


def await_answer(pipe: Pipe, process: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pipe.poll(0.2):
        if not process.is_alive():
            raise SystemExit(f"the load generator died before it could {what} (exit {process.exitcode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"the load generator did not {what} within {timeout:.0f} s")


# The generator alone: a stub that answers both calls at once, in its own process


class StubProtocol(asyncio.Protocol):
    """Answers each request, as soon as it is whole, with a canned 201 (create) or 200 (check)."""

    CREATED = b'{"id":"ver_stub","status":"pending"}'
    APPROVED = b'{"id":"ver_stub","status":"approved","attempts_left":3}'

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                break
            del self.buffer[: end + 4 + length]
            status, body = (
                (200, self.APPROVED) if b"/check " in head.split(b"\r\n", 1)[0] else (201, self.CREATED)
            )
            out.append(b"HTTP/1.1 %d -\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body))
        if out:
            self.transport.write(b"".join(out))


def stub_server(pipe: Pipe) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(StubProtocol, "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, pipe.poll, 600)  # until told, or 10 min

    uvloop.run(main())


def generator_check(rate: float, args: argparse.Namespace) -> LoadResult:
    """The generator at ``rate`` against the stub: what it can hold when the server costs nothing."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=stub_server, args=(theirs,), daemon=True)
    process.start()
    try:
        await_answer(ours, process, 60, "start (the stub)")
        port = ours.recv()
        load = Load("127.0.0.1", port, "-", "pairs", rate, args.generator_check_seconds, 0, args.connections,
                    args.request_timeout, args.drain)  # fmt: skip
        found = run_generator(load)
    finally:
        ours.send("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
    print(f"# the generator alone, against a stub in its own process: {describe(found, rate)}", flush=True)
    return found


def describe(found: LoadResult, rate: float) -> str:
    create, check = percentile(found.create_ms, 0.99), percentile(found.check_ms, 0.99)
    lag, share = percentile(found.lag_ms, 0.99), found.cpu_s / found.window_s
    return (f"{found.approved}/{found.pairs} pairs approved at {rate:,.0f} pairs/s offered, "
            f"{found.approved / found.window_s:,.0f}/s achieved; create p99 {create:.1f} ms, check p99 "
            f"{check:.1f} ms, start lag p99 {lag:.1f} ms; generator {share:.0%} of a core; "
            f"failures {found.failures or 'none'}")  # fmt: skip


# The server and what it costs


def drain_output(process: subprocess.Popen[str]) -> deque[str]:
    """Keep reading the server's output (a full pipe would stall it); the last lines are kept."""
    lines: deque[str] = deque(maxlen=40)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_idle(pid: int, timeout: float, share: float = 0.1) -> None:
    """Until the process uses less than ``share`` of a core over half a second (at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.5 * share:
            return


def socket_ports(pid: int, remote_port: int) -> set[int]:
    """Local ports of ``pid``'s TCP connections to ``remote_port`` (read from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class PostgresBackends:
    """CPU of the PostgreSQL backends serving one process's connections (same machine only)."""

    def __init__(self, url: str, server_pid: int) -> None:
        self.db = Database(url)
        self.server_pid = server_pid
        self.port = self.db.engine.url.port or 5432

    def cpu(self) -> dict[int, float]:
        ports = socket_ports(self.server_pid, self.port)
        if not ports:
            return {}
        query = text("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(:ports)")
        with self.db.read() as conn:
            pids = [int(pid) for pid in conn.execute(query, {"ports": list(ports)}).scalars()]
        found = {}
        for pid in pids:
            try:
                found[pid] = cpu_seconds(pid)
            except OSError:  # gone, or on another machine
                continue
        return found

    def close(self) -> None:
        self.db.dispose()


# A database's run


@dataclass
class Step:
    database: str
    offered: float
    pairs: int
    approved: int
    achieved: float
    create_p50: float
    create_p99: float
    check_p50: float
    check_p99: float
    pair_p99: float
    lag_p99: float
    failures: dict[str, int]
    server_cpu_ms: float  # per pair scheduled
    postgres_cpu_ms: float | None
    peak_rss_mib: float
    generator_cpu_share: float  # of one core, over the step
    connections: int
    held: bool


@dataclass
class Outcome:
    database: str
    healthz_per_s: float
    healthz_generator_us: float  # the generator's CPU per healthz request
    steps: list[Step] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # verifications by status, from the database
    delivered: int = 0  # their SMS delivered by the simulator
    answered: int = 0  # checks the generator saw answer "approved" (warm-up included)
    idle_ms_per_s: float = 0.0  # the server's CPU when no requests come (polls, heartbeats)
    stopped: str = ""

    @property
    def held(self) -> float | None:
        rates = [s.offered for s in self.steps if s.held]
        return max(rates) if rates else None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def server_env(url: str, args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, **RAISED_LIMITS, "QASID_DATABASE_URL": url, "QASID_PORT": "0",
           "QASID_HOST": "127.0.0.1", "QASID_LOG_LEVEL": "warning",
           "QASID_SECRET_KEY": secrets.token_urlsafe(36)}  # fmt: skip
    for pair in args.server_env:
        name, _, value = pair.partition("=")
        env[name] = value
    return env


def run(database: str, url: str, args: argparse.Namespace) -> Outcome:
    began = time.monotonic()
    key = seed(url, simulator=True)
    process, base = start([PYTHON, "-m", "qasid", "serve"], server_env(url, args))
    output = drain_output(process)
    backends: PostgresBackends | None = None
    host, port = base.removeprefix("http://").split(":")
    if args.server_pid_file:
        Path(args.server_pid_file).write_text(f"{process.pid}\n")
    print(f"# {database}: qasid serve (pid {process.pid}) at {base}", flush=True)

    def load(mode: str, rate: float, seconds: float, offset: int, connections: int) -> Load:
        return Load(host, int(port), key, mode, rate, seconds, offset, connections, args.request_timeout,
                    args.drain, args.check_delay if mode == "pairs" else 0.0)  # fmt: skip

    try:
        if database == "postgresql":
            backends = PostgresBackends(url, process.pid)
        ceiling = run_generator(load("healthz", 0, args.ceiling_seconds, 0, args.ceiling_connections))
        outcome = Outcome(
            database, ceiling.requests / ceiling.window_s, 1e6 * ceiling.cpu_s / max(ceiling.requests, 1)
        )
        print(f"# {database}: generator ceiling, GET /healthz closed loop, {args.ceiling_connections} "
              f"connections: {outcome.healthz_per_s:,.0f} requests/s, generator CPU "
              f"{outcome.healthz_generator_us:.0f} us/request, failures {ceiling.failures or 'none'}",
              flush=True)  # fmt: skip
        rates = [float(r) for r in args.rates.split(",")]
        offset = 0
        if args.pending:
            offset += leave_pending(database, load("creates", PENDING_RATE, args.pending / PENDING_RATE, 0,
                                                   args.connections))  # fmt: skip
            began = time.monotonic()  # the budget is the steps'
        warm = run_generator(load("pairs", rates[0], args.warmup, offset, args.connections))
        offset += warm.pairs
        outcome.answered += warm.approved
        for kind, answer in warm.examples.items():
            print(f"# {database}: warm-up, the first {kind}: {answer}", flush=True)
        print(f"# {database}: warm-up, {warm.pairs} pairs at {rates[0]:g}/s, {warm.approved} approved, "
              f"failures {warm.failures or 'none'}", flush=True)  # fmt: skip
        wait_idle(process.pid, 10)
        idle_before = cpu_seconds(process.pid)
        time.sleep(2)
        outcome.idle_ms_per_s = (cpu_seconds(process.pid) - idle_before) * 1000 / 2
        print(f"# {database}: the idle server uses {outcome.idle_ms_per_s:.0f} ms CPU a second", flush=True)
        for rate in rates:
            if time.monotonic() - began + args.seconds + 5 > args.budget:
                outcome.stopped = f"the {args.budget:.0f} s budget was spent before {rate:g} pairs/s"
                break
            step = one_step(database, process.pid, backends, load("pairs", rate, args.seconds, offset,
                            args.connections), args)  # fmt: skip
            offset += step.pairs
            outcome.answered += step.approved
            outcome.steps.append(step)
            print(f"# {database} at {rate:g} pairs/s: {step.approved}/{step.pairs} approved, "
                  f"{step.achieved:,.0f}/s; create p50/p99 {step.create_p50:.1f}/{step.create_p99:.1f} ms, "
                  f"check {step.check_p50:.1f}/{step.check_p99:.1f} ms; server {step.server_cpu_ms:.2f} ms "
                  f"CPU/pair; generator {step.generator_cpu_share:.0%} of a core, start lag p99 "
                  f"{step.lag_p99:.1f} ms, {step.connections} connections; "
                  f"failures {step.failures or 'none'}",
                  flush=True)  # fmt: skip
            if reason := give_up(step, args):
                outcome.stopped = f"stopped after {rate:g} pairs/s: {reason}"
                break
        outcome.statuses, outcome.delivered = read_back(url)
    except BaseException:
        print(f"# {database}: the server's last output:", *[f"#   {line}" for line in output], sep="\n")
        raise
    finally:
        stop(process)
        if backends is not None:
            backends.close()
    if outcome.stopped:
        print(f"# {database}: {outcome.stopped}", flush=True)
    return outcome


def leave_pending(database: str, load: Load) -> int:
    """--pending: verifications created and never checked; how many."""
    made = run_generator(load)
    for kind, answer in made.examples.items():
        print(f"# {database}: pending, the first {kind}: {answer}", flush=True)
    print(f"# {database}: {made.approved} of {made.pairs} verifications created and left pending, failures "
          f"{made.failures or 'none'}", flush=True)  # fmt: skip
    if made.failures:
        raise SystemExit(f"{database}: the pending verifications could not all be created")
    return made.pairs


def one_step(
    database: str, pid: int, backends: PostgresBackends | None, load: Load, args: argparse.Namespace
) -> Step:
    before: dict[str, Any] = {}

    def on_go() -> None:
        before["server"] = cpu_seconds(pid)
        before["postgres"] = backends.cpu() if backends else {}

    found = run_generator(load, on_go)
    if args.timeline:
        write_timeline(args.timeline, database, load.rate, found.timeline)
    for kind, answer in found.examples.items():
        print(f"# {database} at {load.rate:g} pairs/s, the first {kind}: {answer}", flush=True)
    wait_idle(pid, args.idle_timeout)  # the dispatcher may still be sending codes: their CPU counts
    server_cpu = cpu_seconds(pid) - before["server"]
    postgres_cpu = None
    if backends is not None:
        after = backends.cpu()
        postgres_cpu = sum(cpu - before["postgres"].get(pg, 0.0) for pg, cpu in after.items())
    pairs = max(found.pairs, 1)
    failures = sum(found.failures.values())
    achieved = found.approved / found.window_s
    create_p99, check_p99 = percentile(found.create_ms, 0.99), percentile(found.check_ms, 0.99)
    held = (failures == 0 and achieved >= 0.95 * load.rate and create_p99 < args.p99_limit
            and check_p99 < args.p99_limit)  # fmt: skip
    return Step(
        database, load.rate, found.pairs, found.approved, achieved, percentile(found.create_ms, 0.5),
        create_p99, percentile(found.check_ms, 0.5), check_p99, percentile(found.pair_ms, 0.99),
        percentile(found.lag_ms, 0.99), found.failures, 1000 * server_cpu / pairs,
        None if postgres_cpu is None else 1000 * postgres_cpu / pairs, peak_rss_mib(pid),
        found.cpu_s / found.window_s, found.opened, held,
    )  # fmt: skip


def write_timeline(path: str, database: str, rate: float, timeline: list[tuple[float, float, float]]) -> None:
    """Append a step's pairs to ``path`` (CSV: database, offered rate, start s, create ms, check ms),
    to see whether a p99 comes from a few stalls or from the whole step; and print the worst
    quarter-second slices."""
    with open(path, "a", newline="") as out:
        rows = csv.writer(out)
        for start, create, check in sorted(timeline):
            rows.writerow((database, f"{rate:g}", f"{start:.4f}", f"{create:.1f}", f"{check:.1f}"))
    slices: dict[int, float] = {}
    for start, create, check in timeline:
        slices[int(start * 4)] = max(slices.get(int(start * 4), 0.0), create, check)
    worst = sorted(slices.items(), key=lambda item: -item[1])[:3]
    print(f"# {database} at {rate:g} pairs/s: the slowest quarter-seconds (start s, slowest pair ms): "
          + ", ".join(f"{index / 4:.2f} s {ms:.0f}" for index, ms in sorted(worst))
          + f"; median slice {percentile(sorted(slices.values()), 0.5):.0f} ms", flush=True)  # fmt: skip


def give_up(step: Step, args: argparse.Namespace) -> str:
    """Why stepping further is pointless ("" to go on)."""
    if step.failures:
        return f"failures {step.failures}"
    worst = max(step.create_p99, step.check_p99)
    if worst > args.stop_factor * args.p99_limit:
        return f"p99 {worst:,.0f} ms is beyond {args.stop_factor:g} x {args.p99_limit:g} ms"
    if step.achieved < 0.9 * step.offered:
        return f"achieved {step.achieved:,.0f} of {step.offered:g} pairs/s"
    return ""


def read_back(url: str) -> tuple[dict[str, int], int]:
    """Verifications by status, and how many of their SMS the simulator delivered."""
    db = Database(url)
    try:
        with db.read() as conn:
            rows = conn.execute(select(verifications.c.status, func.count()).group_by(verifications.c.status))
            statuses = {status: int(count) for status, count in rows}
            query = select(func.count()).select_from(messages).where(messages.c.status == "delivered")
            delivered = int(conn.execute(query).scalar_one())
    finally:
        db.dispose()
    return statuses, delivered


# The report


def number(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def report(outcomes: list[Outcome], check: LoadResult | None, args: argparse.Namespace) -> None:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n# OTP: create-then-check pairs, open loop, {args.seconds:g} s a step, one `qasid serve` "
          f"(simulator, no latency), up to {args.connections} connections, the bench supplies each "
          f"6-digit code, a fresh +96478 number per pair, "
          f"{f'checked {args.check_delay:g} s after the create' if args.check_delay else 'checked at once'}; "
          f"{os.cpu_count()} CPUs, {when}")  # fmt: skip
    if check is not None:
        top = max(float(r) for r in args.rates.split(","))
        print(f"# The generator alone, against a stub answering at once: {describe(check, top)}")
    print("| database | offered pairs/s | pairs | achieved pairs/s | create p50 ms | create p99 ms "
          "| check p50 ms | check p99 ms | pair p99 ms | failures | server CPU ms/pair "
          "| PostgreSQL CPU ms/pair | server peak RSS MiB | generator CPU (of a core) "
          "| generator start lag p99 ms | held |")  # fmt: skip
    print("| --- |" + " ---: |" * 8 + " --- |" + " ---: |" * 5 + " --- |")
    for o in outcomes:
        for s in o.steps:
            failures = ", ".join(f"{k}: {v}" for k, v in s.failures.items()) or "0"
            cells = [s.database, number(s.offered), str(s.pairs), number(s.achieved),
                     number(s.create_p50, ".1f"), number(s.create_p99, ".1f"), number(s.check_p50, ".1f"),
                     number(s.check_p99, ".1f"), number(s.pair_p99, ".1f"), failures,
                     number(s.server_cpu_ms, ".2f"), number(s.postgres_cpu_ms, ".2f"),
                     number(s.peak_rss_mib), f"{s.generator_cpu_share:.0%}", number(s.lag_p99, ".1f"),
                     "yes" if s.held else "no"]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    print(f"\n# Highest rate held: create p99 and check p99 under {args.p99_limit:g} ms, no failures, "
          f"at least 95% of the offered rate achieved; target 1,000 pairs/s")  # fmt: skip
    print("| database | highest rate held, pairs/s | GET /healthz closed loop, req/s "
          "| generator CPU us/request | generator alone on a core, req/s (1e6/us) "
          "| verifications approved / created (database) "
          "| checks answered approved | their SMS delivered | idle server CPU ms/s | stepping |")  # fmt: skip
    print("| --- |" + " ---: |" * 8 + " --- |")
    for o in outcomes:
        created = sum(o.statuses.values())
        others = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()) if k != "approved")
        approved = f"{o.statuses.get('approved', 0)} / {created}" + (f" ({others})" if others else "")
        cells = [o.database, number(o.held) if o.held else "none", number(o.healthz_per_s),
                 number(o.healthz_generator_us), number(1e6 / max(o.healthz_generator_us, 1e-9)), approved,
                 str(o.answered), str(o.delivered), number(o.idle_ms_per_s),
                 o.stopped or "every rate ran"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="pairs per second, one step each, in order")
    parser.add_argument("--seconds", type=float, default=10, help="length of each step")
    parser.add_argument("--p99-limit", type=float, default=50, help="ms, for create and for check")
    parser.add_argument("--stop-factor", type=float, default=4, help="stop stepping beyond this x the limit")
    parser.add_argument("--connections", type=int, default=256, help="most connections the generator opens")
    parser.add_argument("--request-timeout", type=float, default=10)
    parser.add_argument("--drain", type=float, default=10, help="s a step waits for its last pairs")
    parser.add_argument("--check-delay", type=float, default=1.0,
                        help="s from a create's answer to its check (0: at once)")  # fmt: skip
    parser.add_argument(
        "--pending",
        type=int,
        default=0,
        help="verifications created and never checked before the warm-up (users who never "
        "type their code): the account carries them as pending through the steps",
    )
    parser.add_argument("--warmup", type=float, default=2, help="s at the first rate, not reported")
    parser.add_argument("--ceiling-seconds", type=float, default=3)
    parser.add_argument("--ceiling-connections", type=int, default=16)
    parser.add_argument("--idle-timeout", type=float, default=15, help="s to wait for the server to go idle")
    parser.add_argument("--budget", type=float, default=170, help="s per database; no step starts after")
    parser.add_argument("--server-env", action="append", default=[], metavar="QASID_X=VALUE",
                        help="more settings for the server (repeatable)")  # fmt: skip
    parser.add_argument("--server-pid-file", help="write the server's pid here (for py-spy)")
    parser.add_argument("--timeline", metavar="CSV", help="append every answered pair of every step here")
    parser.add_argument("--generator-check-seconds", type=float, default=5,
                        help="first the generator alone, on a stub, at the top rate; 0: skip")  # fmt: skip
    add_database_arguments(parser)
    args = parser.parse_args()
    check = None
    if args.generator_check_seconds > 0:
        check = generator_check(max(float(r) for r in args.rates.split(",")), args)
    outcomes = [
        on_database(database, args.postgres_url, f"otp, {database}", partial(run, database, args=args))
        for database in args.databases.split(",")
    ]
    report([o for o in outcomes if o is not None], check, args)


if __name__ == "__main__":
    main()
