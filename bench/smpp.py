"""SMPP throughput, one bind and the whole gateway: `python bench/smpp.py`.

Part 1, one bind. For each SMSC (node-smpp, `tests/smsc/node/smsc.js --quiet`, and our scripted
SMSC, `tests/smsc/scripted.py`; each in its own process) one transceiver `Session`
(`qasid.channels.smpp.session`) sends --messages submit_sm (bounded by --seconds) as fast as its
window allows, with windows 1, 10 and 100 and registered_delivery=0; then once more at window 100
with registered_delivery=1 and an `on_requests` that answers ESME_ROK at once, counted until every
receipt is in. It prints submit_sm per second, the client's CPU (this process) and the SMSC's CPU
(read from /proc) per submit_sm. The baseline, in the same run against the same SMSC process, is a
raw pipelined client at window 100: pre-encoded frames, responses read by their header alone, no
futures, no codec: the ceiling the SMSC and loopback allow a client that does almost nothing. Each
SMSC is warmed up first (2,000 submit_sm with receipts from the raw client, not reported).

Part 2, the whole gateway. On a fresh database (SQLite by default; --databases as in
bench/e2e.py), `qasid serve` with one SMPP connector (one transceiver bind, window 100, receipts
requested) to the node SMSC (quiet), every message routed to it; wrk sends --messages
single-recipient requests (64 connections), and the run waits until every message has its
receipt applied. The node SMSC ends numbers in 3 UNDELIV and in 5 REJECTD, so a fifth of the
messages end `undelivered` or `rejected` (by their receipt) and the rest `delivered`: all count.
It prints messages per second end to end (first accept to last receipt applied), accept to final
state p50/p99, the gateway's peak RSS and CPU per message, and the SMSC's CPU per message. The
baseline, in the same run, is bench/e2e.py's `qasid serve` with the carrier simulator (no
latency): the SMPP figure reads as a share of it.

With --webhooks, each SMPP row also registers a webhook endpoint for final states (so one call per
message, as Kannel's dlr-mask=3 makes one per receipt) at the same minimal HTTP sink Kannel's rows
use, in its own process, and runs until the sink has every message's call: end to end is then the
first accept to the last webhook answered.

With --kannel, Kannel 1.4.5 (bench/kannel.py: bearerbox + smsbox, the same node SMSC, window 100,
wrk on GET /cgi-bin/sendsms) adds rows to part 2 in the same run: without receipts (first
request to the last submit_sm answered) and with receipts (dlr-mask=3 and a dlr-url: first
request to the last DLR callback), once for each of Kannel's storages in --kannel-stores: queues
in memory (a crash loses them), or kept across a crash in its spool files, Redis, SQLite or
PostgreSQL (a row whose server is not reachable is skipped, said aloud).
It needs apt-get install kannel; off by default.

Needs `wrk` (Debian: apt-get install wrk) and node-smpp (`make tests/smsc/node/node_modules`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

import e2e
import kannel
from common import (
    HERE,
    PYTHON,
    add_database_arguments,
    cpu_seconds,
    end_load_once_accepted,
    on_database,
    peak_rss_mib,
    seed,
    stop,
)
from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.session import Endpoint, Session, Timing
from qasid.db import Database
from qasid.models import batches, message_events, messages
from qasid.routing import service as routing
from qasid.server_secret import server_secret
from qasid.settings import get_settings
from qasid.vault import Vault

ROOT = HERE.parent
NODE_SMSC = ROOT / "tests" / "smsc" / "node" / "smsc.js"
SYSTEM_ID, PASSWORD = "qasid", "secret"  # both test SMSCs' default account
WINDOWS = (1, 10, 100)
FINAL = ("delivered", "undelivered", "rejected")  # what a receipt from the node SMSC leaves


# The SMSCs, each in its own process


@dataclass
class Smsc:
    name: str
    process: subprocess.Popen[bytes]
    events: Path  # its stdout: JSON lines
    port: int = 0

    def read(self) -> list[dict[str, object]]:
        """The events written so far (whole lines only: the last may be half written)."""
        return [json.loads(line) for line in self.events.read_text().split("\n")[:-1]]

    def seen(self, kind: str) -> int:
        return sum(1 for event in self.read() if event.get("event") == kind)


@contextlib.contextmanager
def smsc_process(name: str) -> Iterator[Smsc]:
    """``node`` (smsc.js --quiet), ``node-verbose`` (an event line per PDU, as in the tests) or
    ``scripted`` (this script's --scripted-smsc), on a free port."""
    command = {
        "node": ["node", str(NODE_SMSC), "--id-format", "dec", "--quiet"],
        "node-verbose": ["node", str(NODE_SMSC), "--id-format", "dec"],
        "scripted": [PYTHON, str(Path(__file__).resolve()), "--scripted-smsc"],
    }[name]
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        with events.open("wb") as out:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, cwd=ROOT)
        smsc = Smsc(name, process, events)
        try:
            deadline = time.monotonic() + 20
            while not smsc.port:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"the {name} SMSC did not start: {' '.join(command)}")
                time.sleep(0.05)
                for event in smsc.read():
                    if event.get("event") == "listening":
                        smsc.port = int(str(event["port"]))
            yield smsc
        finally:
            assert process.stdin is not None
            process.stdin.close()  # smsc.js exits at the end of its stdin
            if name == "scripted":
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve_scripted_smsc() -> None:
    """The scripted SMSC alone in this process, answering each submit_sm that asks for a receipt
    with a DELIVRD receipt right after its response; writes its port as smsc.js does."""
    sys.path.insert(0, str(ROOT))
    from tests.smsc.scripted import Peer, ScriptedSmsc  # noqa: PLC0415 - the repository root is on the path only now

    class ReceiptingSmsc(ScriptedSmsc):
        def __init__(self) -> None:
            super().__init__(system_id=SYSTEM_ID, password=PASSWORD)
            self.wanting: set[int] = set()  # sequence numbers of submits asking for a receipt
            self.answer = self._accept

        def _accept(self, submit: P.ShortMessage) -> int:
            if submit.registered_delivery & 1:
                self.wanting.add(submit.sequence)
            return P.Status.ESME_ROK

        async def _reply(self, peer: Peer, pdu: P.Pdu) -> None:
            await super()._reply(peer, pdu)
            if pdu.command_id == P.Command.SUBMIT_SM_RESP and pdu.sequence in self.wanting:
                self.wanting.discard(pdu.sequence)
                if isinstance(pdu, P.MessageIdResp) and pdu.message_id:
                    await self.receipt(pdu.message_id, peer=peer)

    async def main() -> None:
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        async with ReceiptingSmsc() as smsc:
            print(json.dumps({"event": "listening", "port": smsc.port}), flush=True)
            await stopping.wait()

    asyncio.run(main())


# Part 1: one bind


@dataclass
class BindResult:
    smsc: str
    client: str
    window: int
    receipts: bool
    submits: int
    submit_per_s: float
    receipt_per_s: float | None
    client_cpu_ms: float  # per submit_sm
    smsc_cpu_ms: float


def submit_pdu(number: int, receipts: bool) -> P.ShortMessage:
    return P.ShortMessage(
        command_id=P.Command.SUBMIT_SM, source_addr_ton=5, source_addr="Bench", dest_addr_ton=1,
        dest_addr_npi=1, destination_addr=f"96478{number % 100_000_000:08d}",
        registered_delivery=int(receipts), short_message=b"Your code is 123456",
    )  # fmt: skip


async def through_session(
    port: int, window: int, receipts: bool, args: argparse.Namespace
) -> tuple[int, float, float]:
    """Submits answered ESME_ROK, seconds to the last response, seconds to the last receipt."""
    received = 0
    all_in = asyncio.Event()

    async def on_requests(pdus: list[P.Pdu]) -> list[int]:
        nonlocal received
        received += len(pdus)
        if received >= args.messages:
            all_in.set()
        return [P.Status.ESME_ROK] * len(pdus)

    bind = P.Bind(command_id=P.Command.BIND_TRANSCEIVER, system_id=SYSTEM_ID, password=PASSWORD)
    session = Session(Endpoint("127.0.0.1", port), bind, Timing(window=window), on_requests)
    await session.open()
    began = time.perf_counter()
    deadline = began + args.seconds
    sent = accepted = 0

    async def sender() -> None:
        nonlocal sent, accepted
        while sent < args.messages and time.perf_counter() < deadline:
            sent += 1
            response = await session.request(submit_pdu(sent, receipts))
            accepted += response.status == P.Status.ESME_ROK

    await asyncio.gather(*(sender() for _ in range(window)))
    submitted = time.perf_counter() - began
    if receipts:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), max(deadline - time.perf_counter(), 1.0))
    last_receipt = time.perf_counter() - began
    await session.close()
    if receipts and received < accepted:
        print(f"# only {received} of {accepted} receipts arrived within {args.seconds:.0f} s", flush=True)
    return accepted, submitted, last_receipt


class RawClient(asyncio.Protocol):
    """The baseline: a transceiver that keeps ``window`` pre-encoded submit_sm outstanding, reads
    each frame's header alone and answers deliver_sm with a pre-encoded response."""

    def __init__(self, total: int, window: int, receipts: bool) -> None:
        self.total, self.window = total, window
        frame = P.encode(submit_pdu(0, receipts))  # the header's last four octets: the sequence number
        self.head, self.body = frame[:12], frame[16:]
        self.sent = self.answered = self.receipts = 0
        self.buffer = bytearray()
        self.bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done = asyncio.Event()
        self.expect_receipts = receipts
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        bind = P.Bind(
            command_id=P.Command.BIND_TRANSCEIVER, system_id=SYSTEM_ID, password=PASSWORD, sequence=1
        )
        transport.write(P.encode(bind))

    def submits(self, count: int) -> bytes:
        count = min(count, self.total - self.sent)
        frames = [self.head + (self.sent + 2 + i).to_bytes(4, "big") + self.body for i in range(count)]
        self.sent += count
        return b"".join(frames)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        offset = 0
        while len(self.buffer) - offset >= 16:
            length = int.from_bytes(self.buffer[offset : offset + 4], "big")
            if len(self.buffer) - offset < length:
                break
            command = int.from_bytes(self.buffer[offset + 4 : offset + 8], "big")
            if command == P.Command.SUBMIT_SM_RESP:
                self.answered += 1
                out.append(self.submits(1))
            elif command == P.Command.DELIVER_SM:
                self.receipts += 1
                out.append(
                    (17).to_bytes(4, "big") + P.Command.DELIVER_SM_RESP.to_bytes(4, "big") + bytes(4)
                    + self.buffer[offset + 12 : offset + 16] + b"\0"
                )  # fmt: skip
            elif command == P.Command.BIND_TRANSCEIVER_RESP:
                self.bound.set_result(None)
            offset += length
        del self.buffer[:offset]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.answered >= self.total and (not self.expect_receipts or self.receipts >= self.total):
            self.done.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.set()


async def through_raw(
    port: int, window: int, receipts: bool, args: argparse.Namespace
) -> tuple[int, float, float]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(
        lambda: RawClient(args.messages, window, receipts), "127.0.0.1", port
    )
    await asyncio.wait_for(client.bound, 10)
    began = time.perf_counter()
    transport.write(client.submits(window))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.done.wait(), args.seconds)
    elapsed = time.perf_counter() - began
    transport.close()
    return client.answered, elapsed, elapsed


def bind_row(smsc: Smsc, client: str, window: int, receipts: bool, args: argparse.Namespace) -> BindResult:
    run = through_raw if client == "raw" else through_session
    smsc_before, client_before = cpu_seconds(smsc.process.pid), time.process_time()
    answered, submitted, last = asyncio.run(run(smsc.port, window, receipts, args))
    client_cpu = time.process_time() - client_before
    smsc_cpu = cpu_seconds(smsc.process.pid) - smsc_before
    count = max(answered, 1)
    result = BindResult(
        smsc.name, client, window, receipts, answered, answered / submitted,
        answered / last if receipts else None, 1000 * client_cpu / count, 1000 * smsc_cpu / count,
    )  # fmt: skip
    print(f"# {result}", flush=True)
    return result


def bind_rows(args: argparse.Namespace) -> list[BindResult]:
    results = []
    for name in args.smscs.split(","):
        with smsc_process(name) as smsc:
            warm_up = argparse.Namespace(messages=2_000, seconds=10)  # node's JIT, before the baseline
            asyncio.run(through_raw(smsc.port, 100, True, warm_up))
            plan = [("raw", 100, False), ("raw", 100, True)]
            plan += [("session", window, False) for window in WINDOWS] + [("session", 100, True)]
            results += [bind_row(smsc, client, window, receipts, args) for client, window, receipts in plan]
    return results


# Part 2: the whole gateway


@dataclass
class GatewayResult:
    label: str
    messages: int
    accept_per_s: float
    e2e_per_s: float
    p50_ms: float | None  # None for Kannel: no per-message timestamps
    p99_ms: float | None
    peak_rss_mib: float
    cpu_ms_per_message: float
    smsc_cpu_ms_per_message: float | None


def final_count(db: Database) -> int:
    query = select(func.count()).select_from(messages).where(messages.c.status.in_(FINAL))
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def final_timings(db: Database) -> tuple[list[float], datetime, datetime, datetime]:
    """Accept-to-final seconds per message; first accept, last accept, last final state."""
    with db.read() as conn:
        rows = conn.execute(
            select(batches.c.created_at, message_events.c.at)
            .join(messages, messages.c.batch_id == batches.c.id)
            .join(message_events, message_events.c.message_id == messages.c.id)
            .where(message_events.c.status.in_(FINAL))
        ).all()
    latencies = sorted((done - accepted).total_seconds() for accepted, done in rows)
    return latencies, min(a for a, _ in rows), max(a for a, _ in rows), max(d for _, d in rows)


def through_smpp(
    label: str, url: str, args: argparse.Namespace, layout: str = "serve"
) -> GatewayResult | None:
    key = seed(url)
    with contextlib.ExitStack() as stack:
        smsc = stack.enter_context(smsc_process("node"))
        sink = stack.enter_context(kannel.dlr_sink())[0] if args.webhooks else None
        db = Database(url)
        settings = {"host": "127.0.0.1", "port": smsc.port, "system_id": SYSTEM_ID, "password": PASSWORD,
                    "window": 100, "registered_delivery": True}  # fmt: skip
        now = datetime.now(UTC)
        with db.write() as conn:
            # the gateway's processes start in this directory and environment, so read the same secret
            vault = Vault(server_secret(get_settings()))
            record = routing.add_connector(conn, "smpp", "smsc", settings, now, vault=vault)
            routing.add_route(conn, record.id, now)
        processes, base = e2e.start_layout(url, layout)
        try:
            deadline = time.monotonic() + 20
            while smsc.seen("bind") < len(processes) - (layout == "split"):  # each worker binds once
                if time.monotonic() > deadline:
                    raise SystemExit(f"# {label}: the gateway did not bind to the SMSC")
                time.sleep(0.1)
            if sink is not None:
                hook = {"url": f"http://127.0.0.1:{sink}/dlr?type=qasid", "statuses": "final"}
                kannel.post(f"{base}/v1/webhooks", hook, key)
            cpu_before = sum(cpu_seconds(p.pid) for p in processes)
            smsc_before = cpu_seconds(smsc.process.pid)
            command = ["wrk", "-t1", f"-c{args.connections}", f"-d{int(args.timeout)}s", "-s",
                       str(HERE / "send.lua"), base]  # fmt: skip
            load = subprocess.Popen(command, env=e2e.wrk_env(key, args.messages), stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + args.timeout

            def finished() -> int:
                return final_count(db) if sink is None else int(kannel.sink_count(sink)["count"])

            while finished() < args.messages and time.monotonic() < deadline:
                end_load_once_accepted(load, db, args.messages)
                time.sleep(0.2)
            load.kill()
            load.wait()
            cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
            smsc_cpu = cpu_seconds(smsc.process.pid) - smsc_before
            rss = sum(peak_rss_mib(p.pid) for p in processes)
            done = finished()
            if done < args.messages:
                print(
                    f"# {label}: only {done} of {args.messages} final within {args.timeout:.0f} s", flush=True
                )
                e2e._explain(db)  # the same diagnosis as bench/e2e.py's
                return None
            latencies, first, last_accept, last_final = final_timings(db)
            if sink is not None:  # the end is the last webhook answered
                last_final = datetime.fromtimestamp(float(kannel.sink_count(sink)["last"]), UTC)
        finally:
            for process in processes:
                stop(process)
            db.dispose()
    return GatewayResult(
        label, done, done / max((last_accept - first).total_seconds(), 1e-3),
        done / max((last_final - first).total_seconds(), 1e-3), 1000 * statistics.median(latencies),
        1000 * latencies[int(0.99 * (len(latencies) - 1))], rss, 1000 * cpu / done, 1000 * smsc_cpu / done,
    )  # fmt: skip


def through_simulator(label: str, url: str, args: argparse.Namespace) -> GatewayResult | None:
    found = e2e.run(label, url, "serve", args)
    if found is None or found.e2e_per_s is None or found.p50_ms is None or found.p99_ms is None:
        return None
    return GatewayResult(
        label, found.messages, found.accept_per_s, found.e2e_per_s, found.p50_ms, found.p99_ms,
        found.peak_rss_mib, found.cpu_ms_per_message, None,
    )  # fmt: skip


def gateway_rows(args: argparse.Namespace) -> list[GatewayResult]:
    results = []
    hooked = ", a webhook per final state" if args.webhooks else ""
    if args.webhooks:  # the sink listens on loopback; the gateways' children read this
        os.environ["QASID_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
    for database in args.databases.split(","):
        for label, run in (
            (f"{database}, baseline: `qasid serve`, simulator", through_simulator),
            (f"{database}, `qasid serve`, SMPP to node-smpp{hooked}", through_smpp),
            *(
                [
                    (
                        f"{database}, `qasid api` + 2 workers, SMPP to node-smpp{hooked}",
                        partial(through_smpp, layout="split"),
                    )
                ]
                if "split" in args.layouts.split(",")
                else []
            ),
        ):
            found = on_database(database, args.postgres_url, label, partial(run, label, args=args))
            if found is not None:
                print(f"# {found}", flush=True)
                results.append(found)
    return results


# The report


def number(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def report(binds: list[BindResult], gateway: list[GatewayResult], args: argparse.Namespace) -> None:
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    if binds:
        print(f"\n# One bind: up to {args.messages} submit_sm (at most {args.seconds:.0f} s), "
              f"one transceiver, {os.cpu_count()} CPUs, {when}")  # fmt: skip
        print("| SMSC | client | window | receipts | submit_sm | submit_sm/s | vs raw client | receipts/s "
              "| client CPU ms/submit | SMSC CPU ms/submit |")  # fmt: skip
        print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        raw = {(r.smsc, r.receipts): r for r in binds if r.client == "raw"}
        for r in binds:
            base = raw.get((r.smsc, r.receipts))
            ratio = r.submit_per_s / base.submit_per_s if base and r.client != "raw" else None
            client = "raw (baseline)" if r.client == "raw" else "`Session`"
            cells = [r.smsc, client, str(r.window), "yes" if r.receipts else "no", str(r.submits),
                     number(r.submit_per_s), number(ratio, ".2f"), number(r.receipt_per_s),
                     number(r.client_cpu_ms, ".3f"), number(r.smsc_cpu_ms, ".3f")]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    if gateway:
        print(f"\n# Whole gateway: {args.messages} single-recipient requests, wrk -t1 -c{args.connections}, "
              f"SMPP window 100 with receipts, {os.cpu_count()} CPUs, {when}")  # fmt: skip
        print("| run | messages | accepted/s | end to end/s | vs simulator | accept to final p50 ms | p99 ms "
              "| peak RSS MiB | gateway CPU ms/message | SMSC CPU ms/message |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        baselines = {r.label.split(",")[0]: r.e2e_per_s for r in gateway if r.smsc_cpu_ms_per_message is None}
        for r in gateway:
            base = baselines.get(r.label.split(",")[0])
            ratio = r.e2e_per_s / base if base and r.smsc_cpu_ms_per_message is not None else None
            cells = [r.label, str(r.messages), number(r.accept_per_s), number(r.e2e_per_s),
                     number(ratio, ".2f"), number(r.p50_ms), number(r.p99_ms), number(r.peak_rss_mib),
                     number(r.cpu_ms_per_message, ".3f"),
                     number(r.smsc_cpu_ms_per_message, ".3f")]  # fmt: skip
            print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30, help="bound on each one-bind row")
    parser.add_argument("--timeout", type=float, default=120, help="bound on each whole-gateway run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--parts", default="bind,gateway", help="bind, gateway")
    parser.add_argument("--layouts", default="serve", help="serve; add split for api + 2 workers too")
    parser.add_argument("--smscs", default="node,scripted", help="node, scripted, node-verbose")
    parser.add_argument("--kannel", action="store_true", help="add Kannel 1.4.5's rows to the gateway part")
    parser.add_argument(
        "--webhooks", action="store_true", help="SMPP rows push a webhook per final state, to the DLR sink"
    )
    parser.add_argument("--kannel-log-level", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--kannel-stores", default=",".join(kannel.STORES), help="Kannel's rows with receipts, by its storage"
    )
    parser.add_argument("--scripted-smsc", action="store_true", help=argparse.SUPPRESS)
    add_database_arguments(parser)
    parser.set_defaults(databases="sqlite")
    args = parser.parse_args()
    if args.scripted_smsc:
        serve_scripted_smsc()
        return
    parts = args.parts.split(",")
    if ("gateway" in parts or args.kannel) and shutil.which("wrk") is None:
        raise SystemExit("bench/smpp.py needs wrk: apt-get install wrk")
    binds = bind_rows(args) if "bind" in parts else []
    gateway = gateway_rows(args) if "gateway" in parts else []
    if args.kannel:
        for r in kannel.rows(args, smsc_process):
            gateway.append(GatewayResult(
                r.label, r.messages, r.accept_per_s, r.e2e_per_s, None, None, r.peak_rss_mib,
                r.cpu_ms_per_message, r.smsc_cpu_ms_per_message,
            ))  # fmt: skip
    report(binds, gateway, args)


if __name__ == "__main__":
    main()
