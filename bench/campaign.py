"""Contacts at scale: `python bench/campaign.py [--rows 1000000] [--databases sqlite,postgresql]`.

Part 1, the import. A CSV of --rows distinct Iraqi mobile numbers (national and E.164 forms mixed,
a name and two custom fields each, and one row in a thousand bad) is written to a temporary file
and uploaded, streamed, to a fresh `qasid serve` (`POST /v1/contact-lists/{id}/imports`); a worker
reads it into the list in the background. The bench prints the upload's time, the import's rows per
second (from the upload's end to the import's `done`), the gateway's peak RSS and CPU per row, and
checks from the database that every good row is a contact in the list and every bad one is named.
Bounded by --timeout. Targets on this machine (issue 7): 1,000,000 rows in under 60 s within 500 MB.

(The campaign's fan-out and delivery, part 2, arrive with campaigns.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from common import PYTHON, add_database_arguments, cpu_seconds, on_database, peak_rss_mib, seed, start, stop
from e2e import FAST_WORKER
from qasid.db import Database
from qasid.models import contacts, import_errors, list_members

BAD_EVERY = 1000


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


def run_import(label: str, url: str, args: argparse.Namespace) -> ImportResult | None:
    key = seed(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        bad = write_csv(path, args.rows)
        env = {**os.environ, **FAST_WORKER, "QASID_DATABASE_URL": url, "QASID_PORT": "0"}
        gateway, base = start([PYTHON, "-m", "qasid", "serve"], env)
        try:
            target = post_json(f"{base}/v1/contact-lists", key, {"name": "Everyone"})
            cpu_before, began = cpu_seconds(gateway.pid), time.monotonic()
            with httpx.Client(timeout=args.timeout) as http:
                answer = http.post(
                    f"{base}/v1/contact-lists/{target['id']}/imports", content=file_chunks(path),
                    headers={"authorization": f"Bearer {key}", "content-type": "text/csv"},
                )  # fmt: skip
                answer.raise_for_status()
                uploaded = time.monotonic()
                import_id = answer.json()["id"]
                deadline = uploaded + args.timeout
                found: dict[str, object] = {}
                while time.monotonic() < deadline:
                    found = http.get(
                        f"{base}/v1/imports/{import_id}", headers={"authorization": f"Bearer {key}"}
                    ).json()
                    if found["status"] in ("done", "failed"):
                        break
                    time.sleep(0.2)
            done = time.monotonic()
            cpu = cpu_seconds(gateway.pid) - cpu_before
            rss = peak_rss_mib(gateway.pid)
        finally:
            stop(gateway)
        if found.get("status") != "done":
            print(
                f"# {label}: the import ended {found.get('status')!r} ({found.get('error')}) or took too long"
            )
            return None
        check(url, args.rows - bad, bad, str(target["id"]), import_id)
        return ImportResult(
            label, args.rows, path.stat().st_size / 2**20, uploaded - began, done - uploaded,
            args.rows / max(done - uploaded, 1e-3), rss, 1e6 * cpu / args.rows,
            int(str(found["rows_added"])), bad,
        )  # fmt: skip


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
    add_database_arguments(parser)
    args = parser.parse_args()
    results = []
    for database in args.databases.split(","):
        label = f"{database}, import of {args.rows:,} rows"
        found = on_database(
            database, args.postgres_url, label, lambda url, label=label: run_import(label, url, args)
        )
        if found is not None:
            print(f"# {found}", flush=True)
            results.append(found)
    print(f"\n# contact import, one `qasid serve`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        "| run | rows | file MiB | upload s | import s | rows/s | peak RSS MiB | CPU µs/row | contacts added "
        "| bad rows named |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r.label} | {r.rows:,} | {r.file_mib:.1f} | {r.upload_s:.1f} | {r.import_s:.1f} | "
              f"{r.rows_per_s:,.0f} | "
              f"{r.peak_rss_mib:.0f} | {r.cpu_us_per_row:.0f} | {r.added:,} | {r.bad:,} |")  # fmt: skip


if __name__ == "__main__":
    main()
