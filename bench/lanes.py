"""A code behind a backlog: `python bench/lanes.py [--backlog 40000] [--databases sqlite,postgresql]`.

`qasid api` accepts --backlog messages (requests of 500 recipients, as a bulk send or a campaign
leaves them) while no worker runs; then a `qasid worker` starts (carrier simulator, no latency) and,
while it works through the backlog, --probes verifications and as many single texts are sent, one
of each every --every seconds. The bench prints, for the codes and for the texts sent beside them,
the seconds from accept to `sent` (p50 and worst), and how long the worker took to send everything.
Without the urgent lane a code waits for the backlog like the texts; with it, only for what the
worker already holds. Bounded by --timeout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from sqlalchemy import func, select

from common import PYTHON, add_database_arguments, on_database, seed, start, stop
from e2e import FAST_WORKER
from qasid.db import Database
from qasid.models import batches, message_events, messages


def sent_after_accept(db: Database, message_ids: list[str]) -> list[float]:
    """Accept-to-sent seconds of these messages (those sent so far)."""
    with db.read() as conn:
        rows = conn.execute(
            select(batches.c.created_at, message_events.c.at)
            .join(messages, messages.c.batch_id == batches.c.id)
            .join(message_events, message_events.c.message_id == messages.c.id)
            .where(message_events.c.status == "sent", messages.c.id.in_(message_ids))
        ).all()
    return sorted((at - accepted).total_seconds() for accepted, at in rows)


def last_sent(db: Database) -> datetime | None:
    with db.read() as conn:
        found: datetime | None = conn.execute(
            select(func.max(message_events.c.at)).where(message_events.c.status == "sent")
        ).scalar_one()
    return found


def run(label: str, url: str, *, args: argparse.Namespace) -> dict[str, Any]:
    key = seed(url, simulator=True)
    env = {**os.environ, "QASID_DATABASE_URL": url, "QASID_PORT": "0", **FAST_WORKER}
    api, base = start([PYTHON, "-m", "qasid", "api"], env)
    processes = [api]
    db = Database(url)
    headers = {"Authorization": f"Bearer {key}"}
    codes: list[str] = []
    texts: list[str] = []
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            started = time.monotonic()
            for start_at in range(0, args.backlog, 500):
                numbers = [f"+96477{n:08d}" for n in range(start_at, min(start_at + 500, args.backlog))]
                answer = http.post("/v1/messages", json={"to": numbers, "text": "Sale", "sender": "Bench"})
                answer.raise_for_status()
            processes.append(start([PYTHON, "-m", "qasid", "worker"], env)[0])  # the backlog is queued
            worker_started = datetime.now(UTC)
            time.sleep(0.5)
            for n in range(args.probes):
                code = http.post("/v1/verifications", json={"to": f"+96478{n:08d}", "sender": "Bench"})
                code.raise_for_status()
                detail = http.get(f"/v1/verifications/{code.json()['id']}").json()
                codes.append(detail["send_history"][0]["message_id"])
                one = {"to": f"+96479{n:08d}", "text": "Hi", "sender": "Bench"}
                text = http.post("/v1/messages", json=one)
                texts.append(text.json()["messages"][0]["id"])
                time.sleep(args.every)
            while time.monotonic() - started < args.timeout:
                if len(sent_after_accept(db, codes + texts)) == len(codes) + len(texts):
                    break
                time.sleep(0.5)
        finished = last_sent(db)
        code_waits, text_waits = sent_after_accept(db, codes), sent_after_accept(db, texts)
    finally:
        for process in processes:
            stop(process)
        db.dispose()
    return {
        "label": label,
        "codes": code_waits,
        "texts": text_waits,
        "worker_s": (finished - worker_started).total_seconds() if finished else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=40_000)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--every", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=120)
    add_database_arguments(parser)
    args = parser.parse_args()
    results = []
    for database in args.databases.split(","):
        label = f"{database}, backlog {args.backlog:,}"
        found = on_database(database, args.postgres_url, label, partial(run, label, args=args))
        if found is not None:
            results.append(found)
    head = (
        "| run | codes sent | code p50 s | code worst s | texts sent | text p50 s | text worst s | worker s |"
    )
    print(f"\n{head}")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        codes, texts = r["codes"], r["texts"]
        print(
            f"| {r['label']} | {len(codes)} | {statistics.median(codes):.2f} | {max(codes):.2f} | "
            f"{len(texts)} | {statistics.median(texts):.2f} | {max(texts):.2f} | {r['worker_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
