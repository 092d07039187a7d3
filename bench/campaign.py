"""Contacts at scale: `python bench/campaign.py [--rows 1000000] [--databases sqlite,postgresql]`.

Part 1, the import. A CSV of --rows distinct Iraqi mobile numbers (national and E.164 forms mixed,
a name and two custom fields each, and one row in a thousand bad) is written to a temporary file
and uploaded, streamed, to a fresh `qasid serve` (`POST /v1/contact-lists/{id}/imports`); a worker
reads it into the list in the background. The bench prints the upload's time, the import's rows per
second (from the upload's end to the import's `done`), the gateway's peak RSS and CPU per row, and
checks from the database that every good row is a contact in the list and every bad one is named.
Bounded by --timeout. Targets on this machine (issue 7): 1,000,000 rows in under 60 s within 500 MB.

Part 2, the campaign. On the same gateway, a campaign of one text to that list (no rate, no quiet
hours): the bench times its fan-out (from `POST /v1/campaigns` until it is `done`: every contact
has its message, priced, charged and queued for dispatch), and then lets the simulator (no latency)
deliver for --deliver-seconds, printing deliveries per second. Target: fan-out at 20,000
recipients/s. Meanwhile a probe sends the same account's single messages through the API, --probe-rate
a second on a connection of its own, and prints their latency: what a campaign's chunks cost the
account's other sends (each chunk is one write transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from common import (
    PYTHON,
    add_database_arguments,
    cpu_seconds,
    on_database,
    peak_rss_mib,
    postgres_cpu_seconds,
    seed,
    start,
    stop,
)
from e2e import FAST_WORKER
from qasid.db import Database
from qasid.models import contacts, import_errors, list_members

BAD_EVERY = 1000


@dataclass
class CampaignResult:
    label: str
    recipients: int
    fan_out_s: float
    recipients_per_s: float
    delivered: int
    delivered_per_s: float
    peak_rss_mib: float
    gateway_cpu_us: float  # per recipient, over the fan-out (deliveries meanwhile included)
    postgres_cpu_us: float | None  # the same, every PostgreSQL process; None on SQLite
    probe_ms: list[float]  # each probe send's latency during the fan-out


class Probe(threading.Thread):
    """Single-recipient sends by the campaign's account, ``rate`` a second, until stopped; their
    latencies in ms. A send that fails stops the bench: the probe must not hide errors."""

    def __init__(self, base: str, key: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=base, timeout=30, headers={"authorization": f"Bearer {key}"})
        self.period = 1 / rate if rate > 0 else 0.0
        self.latencies: list[float] = []
        self.failure: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        sent = 0
        began = time.monotonic()
        while self.period and not self.done.wait(max(0.0, began + sent * self.period - time.monotonic())):
            start = time.perf_counter()
            answer = self.http.post(
                "/v1/messages", json={"to": [f"+9647809{sent:06d}"], "text": "Probe", "sender": "Bench"}
            )
            self.latencies.append(1000 * (time.perf_counter() - start))
            if answer.status_code != 202:
                self.failure = f"{answer.status_code} {answer.text[:200]}"
                return
            sent += 1

    def stop(self) -> list[float]:
        self.done.set()
        self.join()
        self.http.close()
        if self.failure is not None:
            raise SystemExit(f"# a probe send failed: {self.failure}")
        return self.latencies


@dataclass
class ImportResult:
    label: str
    rows: int
    file_mib: float
    upload_s: float
    import_s: float
    rows_per_s: float
    peak_rss_mib: float
    cpu_us_per_row: float
    added: int
    bad: int


def write_csv(path: Path, rows: int) -> int:
    """The file; returns how many of its rows are bad."""
    generator = random.Random(7)
    bad = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("name,phone,city,plan\n")
        for n in range(rows):
            if n % BAD_EVERY == BAD_EVERY - 1:
                out.write(f"Bad {n},12{n},Nowhere,none\n")
                bad += 1
                continue
            subscriber = f"{n:07d}"
            number = f"0770{subscriber}" if n % 2 else f"+964770{subscriber}"
            city = generator.choice(("Erbil", "Basra", "Baghdad", "Najaf", "Duhok"))
            out.write(f"Person {n},{number},{city},{'gold' if n % 3 else 'silver'}\n")
    return bad


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(256 * 1024):
            yield chunk


def post_json(url: str, key: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - our own loopback gateway
        url, json.dumps(body).encode(), {"content-type": "application/json", "authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def run(label: str, url: str, args: argparse.Namespace) -> tuple[ImportResult | None, CampaignResult | None]:
    key = seed(url, simulator=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        bad = write_csv(path, args.rows)
        env = {**os.environ, **FAST_WORKER, "QASID_DATABASE_URL": url, "QASID_PORT": "0"}
        gateway, base = start([PYTHON, "-m", "qasid", "serve"], env)
        try:
            with httpx.Client(
                base_url=base, timeout=args.timeout, headers={"authorization": f"Bearer {key}"}
            ) as http:
                target = http.post("/v1/contact-lists", json={"name": "Everyone"}).json()
                imported = import_file(
                    f"{label}, import", http, gateway.pid, path, list_id=target["id"], args=args
                )
                if imported is None:
                    return None, None
                check(url, args.rows - bad, bad, target["id"], imported[1])
                probe = Probe(base, key, args.probe_rate)
                sent = fan_out(
                    f"{label}, campaign", http, gateway.pid, target["id"], audience=args.rows - bad,
                    on_postgres=url.startswith("postgresql"), probe=probe, args=args,
                )  # fmt: skip
        finally:
            stop(gateway)
    return imported[0], sent


def import_file(
    label: str, http: httpx.Client, pid: int, path: Path, *, list_id: str, args: argparse.Namespace
) -> tuple[ImportResult, str] | None:
    cpu_before, began = cpu_seconds(pid), time.monotonic()
    answer = http.post(
        f"/v1/contact-lists/{list_id}/imports",
        content=file_chunks(path),
        headers={"content-type": "text/csv"},
    )
    answer.raise_for_status()
    uploaded = time.monotonic()
    import_id = answer.json()["id"]
    found = poll(http, f"/v1/imports/{import_id}", lambda f: f["status"] in ("done", "failed"), args.timeout)
    done = time.monotonic()
    if found.get("status") != "done":
        print(f"# {label}: the import ended {found.get('status')!r} ({found.get('error')}) or took too long")
        return None
    result = ImportResult(
        label, args.rows, path.stat().st_size / 2**20, uploaded - began, done - uploaded,
        args.rows / max(done - uploaded, 1e-3), peak_rss_mib(pid),
        1e6 * (cpu_seconds(pid) - cpu_before) / args.rows,
        int(found["rows_added"]), int(found["rows_bad"]),
    )  # fmt: skip
    return result, import_id


def fan_out(
    label: str,
    http: httpx.Client,
    pid: int,
    list_id: str,
    *,
    audience: int,
    on_postgres: bool,
    probe: Probe,
    args: argparse.Namespace,
) -> CampaignResult | None:
    gateway_before, postgres_before = cpu_seconds(pid), postgres_cpu_seconds() if on_postgres else 0.0
    began = time.monotonic()
    made = http.post(
        "/v1/campaigns", json={"name": "All", "sender": "Bench", "text": "Sale today", "lists": [list_id]}
    )
    made.raise_for_status()
    probe.start()
    # The list shows progress without counting the campaign's messages by state (the detail does,
    # and asking for that five times a second would load the database the bench measures).
    found = poll(http, "/v1/campaigns", lambda page: page["data"][0]["status"] == "done", args.timeout)
    found = found["data"][0] if found.get("data") else {}
    fanned = time.monotonic()
    latencies = probe.stop()
    gateway_cpu = cpu_seconds(pid) - gateway_before
    postgres_cpu = postgres_cpu_seconds() - postgres_before if on_postgres else None
    if found.get("status") != "done" or found.get("queued") != audience:
        print(f"# {label}: {found.get('queued')} of {audience} made, {found.get('status')!r}")
        return None
    window_start = delivered_count(http, found["id"])
    time.sleep(args.deliver_seconds)
    delivered = delivered_count(http, found["id"])
    return CampaignResult(
        label, audience, fanned - began, audience / max(fanned - began, 1e-3), delivered,
        (delivered - window_start) / args.deliver_seconds, peak_rss_mib(pid),
        1e6 * gateway_cpu / audience, None if postgres_cpu is None else 1e6 * postgres_cpu / audience,
        latencies,
    )  # fmt: skip


def delivered_count(http: httpx.Client, campaign_id: str) -> int:
    shown = http.get(f"/v1/campaigns/{campaign_id}").json()
    return int(shown["by_status"].get("delivered", {}).get("messages", 0))


def poll(http: httpx.Client, path: str, done: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = http.get(path).json()
        if done(found):
            break
        time.sleep(0.2)
    return found


def check(url: str, good: int, bad: int, list_id: str, import_id: str) -> None:
    db = Database(url)
    with db.read() as conn:
        contacts_n = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
        members = conn.execute(select(func.count()).where(list_members.c.list_id == list_id)).scalar_one()
        named = conn.execute(select(func.count()).where(import_errors.c.import_id == import_id)).scalar_one()
    db.dispose()
    if (contacts_n, members, named) != (good, good, bad):
        raise SystemExit(
            f"# wrong: {contacts_n} contacts and {members} members for {good} good rows; "
            f"{named} of {bad} bad rows named"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--deliver-seconds", type=float, default=30, help="how long delivery is watched")
    parser.add_argument(
        "--probe-rate", type=float, default=10, help="single API sends a second during the fan-out (0: none)"
    )
    add_database_arguments(parser)
    args = parser.parse_args()
    imports, campaigns = [], []
    for database in args.databases.split(","):
        label = f"{database}, {args.rows:,} rows"
        found = on_database(
            database, args.postgres_url, label, lambda url, label=label: run(label, url, args)
        )
        for result, kept in zip(found or (None, None), (imports, campaigns), strict=True):
            if result is not None:
                print(f"# {result}", flush=True)
                kept.append(result)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\n# contact import, one `qasid serve`, {when}")
    print(
        "| run | rows | file MiB | upload s | import s | rows/s | peak RSS MiB | CPU µs/row | added "
        "| bad named |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in imports:
        print(f"| {r.label} | {r.rows:,} | {r.file_mib:.1f} | {r.upload_s:.1f} | {r.import_s:.1f} | "
              f"{r.rows_per_s:,.0f} | {r.peak_rss_mib:.0f} | {r.cpu_us_per_row:.0f} | {r.added:,} "
              f"| {r.bad:,} |")  # fmt: skip
    print(
        f"\n# campaign to that list, one text, no rate; then {args.deliver_seconds:g} s of delivery, {when}"
    )
    print(
        "| run | recipients | fan-out s | recipients/s | delivered in the window | delivered/s "
        "| peak RSS MiB | gateway CPU µs/recipient | PostgreSQL CPU µs/recipient "
        "| probe sends | probe p50 / p99 / max ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in campaigns:
        pg = "-" if c.postgres_cpu_us is None else f"{c.postgres_cpu_us:.0f}"
        print(f"| {c.label} | {c.recipients:,} | {c.fan_out_s:.1f} | {c.recipients_per_s:,.0f} | "
              f"{c.delivered:,} | {c.delivered_per_s:,.0f} | {c.peak_rss_mib:.0f} | "
              f"{c.gateway_cpu_us:.0f} | {pg} | {len(c.probe_ms)} | {spread(c.probe_ms)} |")  # fmt: skip


def spread(latencies: list[float]) -> str:
    if len(latencies) < 2:
        return "-"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return f"{statistics.median(latencies):.0f} / {cuts[98]:.0f} / {max(latencies):.0f}"


if __name__ == "__main__":
    main()
