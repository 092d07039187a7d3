"""Kannel's SMPP end to end, the same-session baseline for bench/smpp.py: `python bench/kannel.py`.

Kannel (Debian package `kannel`, 1.4.5: apt-get install kannel; no service enabled) runs here as
two child processes, bearerbox and smsbox, on a configuration written to a temporary directory:
one SMPP transceiver bind (window 100: max-pending-submits) to the node-smpp SMSC
(`tests/smsc/node/smsc.js --quiet`, decimal message ids: msg-id-type 0x00), logs at warning level.
wrk sends --messages `GET /cgi-bin/sendsms` requests (64 connections), one distinct Zain number
(+96478%08d) each, as bench/send.lua does.

One row without receipts, with Kannel's queues in memory, timed from the first request to the
moment bearerbox counts every message sent (each submit_sm answered by the SMSC: /status.txt,
polled every 50 ms). Then a row with receipts (dlr-mask=3, a dlr-url to a minimal HTTP sink run by
this script in its own process), timed from the first request to the last DLR callback the sink
received, for each of Kannel's ways of keeping what it holds (--kannel-stores):

- `memory`: queues and pending receipts in memory (`dlr-storage = internal`, no message store): a
  crash or restart of bearerbox loses every message it accepted and had not sent, and every
  receipt it was waiting for;
- `spool`: the message store (`store-type = spool`: a file per accepted message, removed once
  sent) and the DLR spool (a file per pending receipt): nothing lost when Kannel crashes, though
  neither is fsynced, so a crash of the machine can lose them;
- `redis`: the message store spooled, pending receipts in Redis at 127.0.0.1:6379 (a hash each,
  under a key prefix of the run's, removed afterwards; kept across a crash of Kannel, and across
  one of Redis as far as its own persistence goes);
- `sqlite3`, `pgsql`: the message store spooled, pending receipts in a table of an SQLite file or
  of --postgres-url (Kannel's dlr-db; a table of its own, dropped afterwards).

It prints messages per second, accepted per second (wrk's run), Kannel's CPU per message (bearerbox +
smsbox, /proc) and their peak RSS, and the SMSC's CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from common import PYTHON, add_database_arguments, cpu_seconds, peak_rss_mib, postgres_reachable

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"
SYSTEM_ID, PASSWORD = "qasid", "secret"  # the node SMSC's default account
ACCESS = "bench"  # Kannel's admin, status and sendsms-user password

WRK_SCRIPT = """\
-- GET /cgi-bin/sendsms, one distinct Zain number per request; exactly LIMIT of them, then stop.
local query = os.getenv("KANNEL_BENCH_QUERY")
local limit = tonumber(os.getenv("KANNEL_BENCH_LIMIT"))
local counter = 0
local answered = 0
-- wrk builds one request to check the script and never sends it: count from one below zero.
local sent = -1

request = function()
  sent = sent + 1
  if sent > limit then
    return wrk.format("GET", "/nothing")  -- after the last message, until every answer is in
  end
  counter = counter + 1
  return wrk.format("GET", query .. string.format("%%2B96478%08d", counter % 100000000))
end

response = function(status, headers, body)
  if status == 202 then
    answered = answered + 1
  end
  if answered >= limit then
    wrk.thread:stop()
  end
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The DLR sink: counts Kannel's callbacks, in its own process


def serve_dlr_sink() -> None:
    """HTTP/1.1 with keep-alive, nothing more: GET (or POST) /dlr?type=N counts a callback, GET /count
    answers {"count": ..., "last": time.time() of the last callback, "types": {...}}."""
    count = 0
    last = 0.0
    types: dict[str, int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count, last
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length:  # a POST (Qasid's webhooks): its body is read and dropped
                    await reader.readexactly(int(length[1]))
                body = b""
                if path.startswith(b"/dlr"):
                    count += 1
                    last = time.time()
                    kind = path.partition(b"type=")[2].decode()
                    types[kind] = types.get(kind, 0) + 1
                else:
                    body = json.dumps({"count": count, "last": last, "types": types}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        await server.serve_forever()  # until SIGTERM ends the process

    asyncio.run(main())


def sink_count(port: int) -> dict[str, object]:
    """What the DLR sink on ``port`` has counted: {"count", "last", "types"}."""
    return dict(json.loads(get(f"http://127.0.0.1:{port}/count")))


def post(url: str, payload: dict[str, object], key: str) -> None:
    """POST JSON with a Qasid API key (a 2xx or an exception)."""
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 URLs
        url,
        json.dumps(payload).encode(),
        {"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http://127.0.0.1 URLs
        return str(response.read().decode())


# Kannel


STORES = ("memory", "spool", "redis", "sqlite3", "pgsql")
REDIS = ("127.0.0.1", 6379)
DLR_FIELDS = ("smsc", "ts", "destination", "source", "service", "url", "mask", "status", "boxc")
DLR_TABLE = (
    "CREATE TABLE {table} (smsc TEXT, ts TEXT, destination TEXT, source TEXT, service TEXT, url TEXT,"
    " mask INTEGER, status INTEGER, boxc TEXT)"
)


@contextlib.contextmanager
def storage(tmp: Path, store: str, postgres_url: str) -> Iterator[tuple[str, str]]:
    """The core group's storage lines, and the groups they need.

    - ``memory``: the queues and pending receipts live in memory (a crash loses them);
    - ``spool``: each accepted message and each pending receipt is a file of its own (Kannel's
      message store and DLR spool; written, never fsynced: a crash of Kannel loses nothing, a crash
      of the machine may);
    - ``redis``: the message store spooled, the pending receipts in Redis (a hash each);
    - ``sqlite3``, ``pgsql``: the message store spooled, the pending receipts in a database table
      (Kannel's dlr-db: a statement in its own transaction for each receipt added, found, removed).
    """
    if store == "memory":
        yield "dlr-storage = internal", ""
        return
    (tmp / "store").mkdir()
    spool = f'store-type = spool\nstore-location = "{tmp}/store"\n'
    if store == "spool":
        (tmp / "dlr").mkdir()
        yield f'{spool}dlr-storage = spool\ndlr-spool = "{tmp}/dlr"', ""
        return
    names = {"ts": "timestamp", "boxc": "boxc-id"}
    fields = "\n".join(f"field-{names.get(n, n)} = {n}" for n in DLR_FIELDS)
    if store == "redis":  # a hash per pending receipt, its key under a prefix of this run's
        prefix = f"kannel_dlr_{uuid.uuid4().hex[:10]}"
        connection = (
            f"group = redis-connection\nid = dlr\nhost = {REDIS[0]}\nport = {REDIS[1]}\nmax-connections = 4\n"
        )
        try:
            yield (
                f"{spool}dlr-storage = redis",
                f"{connection}\ngroup = dlr-db\nid = dlr\ntable = {prefix}\n{fields}\n",
            )
        finally:
            cli = ["redis-cli", "-h", REDIS[0], "-p", str(REDIS[1])]
            left = subprocess.run(
                [*cli, "--scan", "--pattern", f"{prefix}:*"], check=False, capture_output=True, text=True
            )
            for key in left.stdout.split():
                subprocess.run([*cli, "DEL", key], capture_output=True, check=False)
        return
    if store == "sqlite3":
        database = tmp / "dlr.db"
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute(DLR_TABLE.format(table="dlr"))
            conn.execute("CREATE INDEX dlr_lookup ON dlr (smsc, ts)")
        connection = f'group = sqlite3-connection\nid = dlr\ndatabase = "{database}"\nmax-connections = 1\n'
        yield (
            f"{spool}dlr-storage = sqlite3",
            f"{connection}\ngroup = dlr-db\nid = dlr\ntable = dlr\n{fields}\n",
        )
        return
    table = f"kannel_dlr_{uuid.uuid4().hex[:10]}"  # Kannel quotes the name whole: no schema in it
    with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
        conn.execute(DLR_TABLE.format(table=table))
        conn.execute(f"CREATE INDEX {table}_lookup ON {table} (smsc, ts)")
    try:
        where = urlsplit(postgres_url)
        connection = (
            f"group = pgsql-connection\nid = dlr\nhost = {where.hostname}\nport = {where.port or 5432}\n"
            f"username = {where.username}\npassword = {where.password or 'bench'}\n"
            f"database = {where.path.lstrip('/')}\nmax-connections = 4\n"
        )
        yield (
            f"{spool}dlr-storage = pgsql",
            f"{connection}\ngroup = dlr-db\nid = dlr\ntable = {table}\n{fields}\n",
        )
    finally:
        with contextlib.closing(psycopg.connect(postgres_url, autocommit=True)) as conn:
            conn.execute(f"DROP TABLE {table}")


def config(
    tmp: Path, smsc_port: int, admin: int, box: int, sendsms: int, *, log_level: int, stored: tuple[str, str]
) -> str:
    core, groups = stored
    return f"""\
group = core
{core}
admin-port = {admin}
admin-password = {ACCESS}
status-password = {ACCESS}
admin-allow-ip = 127.0.0.1
smsbox-port = {box}
box-allow-ip = 127.0.0.1
log-file = "{tmp}/bearerbox.log"
log-level = {log_level}

group = smsc
smsc = smpp
smsc-id = node
host = 127.0.0.1
port = {smsc_port}
transceiver-mode = true
smsc-username = {SYSTEM_ID}
smsc-password = {PASSWORD}
system-type = bench
max-pending-submits = 100
msg-id-type = 0x00
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
global-sender = Bench
log-file = "{tmp}/smsbox.log"
log-level = {log_level}

group = sendsms-user
username = bench
password = {ACCESS}
user-allow-ip = 127.0.0.1

{groups}"""


@dataclass
class Kannel:
    bearerbox: subprocess.Popen[bytes]
    smsbox: subprocess.Popen[bytes]
    admin: int
    sendsms: int
    logs: Path

    @property
    def pids(self) -> tuple[int, int]:
        return self.bearerbox.pid, self.smsbox.pid

    def status(self) -> str:
        return get(f"http://127.0.0.1:{self.admin}/status.txt?password={ACCESS}")

    def sent(self) -> int:
        found = re.search(r"^SMS: received \d+ \(\d+ queued\), sent (\d+)", self.status(), re.M)
        return int(found[1]) if found else 0

    def tail(self) -> str:
        return "\n".join(
            f"# {path.name}: {line}" for path in sorted(self.logs.glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()[-15:]
        )  # fmt: skip


def end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def kannel(
    smsc_port: int, log_level: int = 2, store: str = "memory", postgres_url: str = ""
) -> Iterator[Kannel]:
    """bearerbox and smsbox, bound to the SMSC at ``smsc_port`` and ready for sendsms."""
    if not (Path(BEARERBOX).exists() and Path(SMSBOX).exists()):
        raise SystemExit("Kannel is not installed: apt-get install kannel")
    with tempfile.TemporaryDirectory() as name, storage(Path(name), store, postgres_url) as stored:
        tmp = Path(name)
        admin, box, sendsms = free_port(), free_port(), free_port()
        conf = tmp / "kannel.conf"
        conf.write_text(config(tmp, smsc_port, admin, box, sendsms, log_level=log_level, stored=stored))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        # -v: stderr's level (discarded); Kannel's default, 0 (debug), logs every PDU
        verbosity = ["-v", str(log_level)]
        bearerbox = subprocess.Popen([BEARERBOX, *verbosity, str(conf)], **quiet)  # type: ignore[call-overload]
        smsbox: subprocess.Popen[bytes] | None = None
        try:
            found = Kannel(bearerbox, bearerbox, admin, sendsms, tmp)
            deadline = time.monotonic() + 20
            while True:
                if bearerbox.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"# bearerbox did not start or bind\n{found.tail()}")
                with contextlib.suppress(OSError):
                    if re.search(r"^\s*node\[.*\(online", found.status(), re.M):
                        break
                time.sleep(0.1)
            smsbox = subprocess.Popen([SMSBOX, *verbosity, str(conf)], **quiet)  # type: ignore[call-overload]
            found.smsbox = smsbox
            while True:
                if smsbox.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"# smsbox did not start\n{found.tail()}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", sendsms), 1):
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # smsbox connects to bearerbox after it listens
            yield found
        finally:
            if smsbox is not None:
                end(smsbox)
            end(bearerbox)


@contextlib.contextmanager
def dlr_sink() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    process = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "--dlr-sink"], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit("# the DLR sink did not start")
        yield int(json.loads(line)["port"]), process
    finally:
        end(process)


# The run


@dataclass
class KannelResult:
    label: str
    messages: int
    accept_per_s: float
    e2e_per_s: float
    peak_rss_mib: float
    cpu_ms_per_message: float
    smsc_cpu_ms_per_message: float
    dlr_types: dict[str, int] | None = None


STORED = {
    "memory": "queues in memory",
    "spool": "message store and DLRs spooled to files",
    "redis": "message store spooled, DLRs in Redis",
    "sqlite3": "message store spooled, DLRs in SQLite",
    "pgsql": "message store spooled, DLRs in PostgreSQL",
}


def run(
    smsc_port: int, smsc_pid: int, receipts: bool, args: argparse.Namespace, store: str = "memory"
) -> KannelResult | None:
    """One row against an SMSC already listening (its pid for its CPU): a fresh Kannel each time."""
    receipting = "receipts (dlr-mask=3, dlr-url)" if receipts else "no receipts"
    label = f"Kannel 1.4.5 ({STORED[store]}), SMPP to node-smpp, {receipting}"
    with contextlib.ExitStack() as stack:
        kannel_ = stack.enter_context(
            kannel(smsc_port, getattr(args, "kannel_log_level", 2), store, args.postgres_url)
        )
        query = f"/cgi-bin/sendsms?username=bench&password={ACCESS}&text=Your+code+is+123456"
        sink_port = 0
        if receipts:
            sink_port, _ = stack.enter_context(dlr_sink())
            dlr_url = f"http%3A%2F%2F127.0.0.1%3A{sink_port}%2Fdlr%3Ftype%3D%25d"
            query += f"&dlr-mask=3&dlr-url={dlr_url}"
        query += "&to="
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        script = tmp / "sendsms.lua"
        script.write_text(WRK_SCRIPT)

        def callbacks() -> dict[str, object]:
            return sink_count(sink_port)

        sent_before = kannel_.sent()
        cpu_before = sum(cpu_seconds(pid) for pid in kannel_.pids)
        smsc_before = cpu_seconds(smsc_pid)
        env = {**os.environ, "KANNEL_BENCH_QUERY": query, "KANNEL_BENCH_LIMIT": str(args.messages)}
        command = ["wrk", "-t1", f"-c{args.connections}", f"-d{int(args.timeout)}s", "--timeout", "10s",
                   "-s", str(script), f"http://127.0.0.1:{kannel_.sendsms}"]  # fmt: skip
        began = time.time()
        load = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        accepted_at = 0.0
        deadline = time.monotonic() + args.timeout
        done = 0
        finished = 0.0
        while time.monotonic() < deadline:
            if not accepted_at and load.poll() is not None:
                accepted_at = time.time()
            if receipts:
                counted = callbacks()
                done = int(str(counted["count"]))
                finished = float(str(counted["last"]))
            else:
                done = kannel_.sent() - sent_before
                finished = time.time()
            if done >= args.messages:
                break
            time.sleep(0.05)
        cpu = sum(cpu_seconds(pid) for pid in kannel_.pids) - cpu_before
        smsc_cpu = cpu_seconds(smsc_pid) - smsc_before
        rss = sum(peak_rss_mib(pid) for pid in kannel_.pids)
        if load.poll() is None:
            load.kill()
        output = load.communicate()[0]
        accepted_at = accepted_at or time.time()
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if done < args.messages:
            print(f"# {label}: only {done} of {args.messages} within {args.timeout:.0f} s "
                  f"(wrk: {output.strip().splitlines()[-2:]})", flush=True)  # fmt: skip
            print(f"{kannel_.status()}\n{kannel_.tail()}", flush=True)
            return None
        types = None
        if receipts:
            types = {str(k): int(str(v)) for k, v in dict(callbacks()["types"]).items()}  # type: ignore[call-overload]
    if non_2xx and int(non_2xx[1]) > args.connections * 2:  # the /nothing requests after the last are 404
        print(f"# {label}: wrk saw {non_2xx[1]} non-2xx responses", flush=True)
    return KannelResult(
        label, done, done / max(accepted_at - began, 1e-3), done / max(finished - began, 1e-3), rss,
        1000 * cpu / done, 1000 * smsc_cpu / done, types,
    )  # fmt: skip


def reachable(store: str, args: argparse.Namespace) -> bool:
    """Whether the server a storage needs answers; if not, its row is skipped, said aloud."""
    if store == "pgsql" and not postgres_reachable(args.postgres_url):
        print(f"# Kannel with DLRs in PostgreSQL: unreachable at {args.postgres_url}; skipped", flush=True)
        return False
    if store == "redis":
        try:
            socket.create_connection(REDIS, 1).close()
        except OSError:
            print(
                f"# Kannel with DLRs in Redis: nothing listens at {REDIS[0]}:{REDIS[1]}; skipped", flush=True
            )
            return False
    if store not in STORED:
        raise SystemExit(f"--kannel-stores: no storage {store!r} (one of {', '.join(STORES)})")
    return True


def rows(args: argparse.Namespace, smsc_process: Callable[[str], Any] | None = None) -> list[KannelResult]:
    """Both rows, each against a fresh node SMSC (bench/smpp.py's ``smsc_process``, as for its
    gateway rows)."""
    if smsc_process is None:
        import smpp  # noqa: PLC0415 - bench/smpp.py imports this module

        smsc_process = smpp.smsc_process
    results = []
    stores = [
        store for store in getattr(args, "kannel_stores", "memory").split(",") if reachable(store, args)
    ]
    for receipts, store in [(False, "memory"), *((True, store) for store in stores)]:
        with smsc_process("node") as smsc:
            found = run(smsc.port, smsc.process.pid, receipts, args, store)
        if found is not None:
            print(f"# {found}", flush=True)
            results.append(found)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=120, help="bound on each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--kannel-log-level", type=int, default=2, help="0 debug (the default) .. 4")
    parser.add_argument(
        "--kannel-stores", default=",".join(STORES), help="rows with receipts: " + ", ".join(STORES)
    )
    add_database_arguments(parser)
    parser.add_argument("--dlr-sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dlr_sink:
        serve_dlr_sink()
        return
    if shutil.which("wrk") is None:
        raise SystemExit("bench/kannel.py needs wrk: apt-get install wrk")
    results = rows(args)
    print(f"\n# Kannel 1.4.5: {args.messages} sendsms requests, wrk -t1 -c{args.connections}, "
          f"SMPP window 100, {os.cpu_count()} CPUs")  # fmt: skip
    print("| run | messages | accepted/s | end to end/s | peak RSS MiB | Kannel CPU ms/message "
          "| SMSC CPU ms/message | callbacks by DLR type |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        cells = [r.label, str(r.messages), f"{r.accept_per_s:,.0f}", f"{r.e2e_per_s:,.0f}",
                 f"{r.peak_rss_mib:,.0f}", f"{r.cpu_ms_per_message:.3f}", f"{r.smsc_cpu_ms_per_message:.3f}",
                 json.dumps(r.dlr_types) if r.dlr_types else "-"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
