"""What a group commit's round trips to PostgreSQL cost: `python bench/round_trips.py`.

One transaction shaped like a writer's (a read, two inserts, a read that must see them, a delete,
the commit) on a scratch table, run --transactions times in each mode and printed as wall time and
the thread's CPU per transaction:

- "one by one": every statement its own round trip, as without ``qasid.db.bulk.deferring``;
- "deferred": inside ``deferring``, as the group-commit writer runs its transactions now.

Each mode runs twice: alone, and beside a thread that never sleeps. The gateway's event loop is
such a thread under load: a thread that waited for the database must win the interpreter back from
it, which can take up to the switch interval (5 ms) each time. So the count of waits per
transaction, more than its statements or bytes, sets a writer's pace in a busy process. The
"one by one" rows are the baseline of the same run; read the others as ratios against them.
Needs PostgreSQL (--url; the tests' default database).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from qasid.db import Database
from qasid.db.bulk import deferring, execute, write

TABLE = "bench_round_trips"


def transaction(conn: Connection) -> None:
    execute(conn, "SELECT 1")
    write(conn, f"INSERT INTO {TABLE} VALUES (%s)", (1,))  # noqa: S608 - our own name
    write(conn, f"INSERT INTO {TABLE} VALUES (%s)", (2,))  # noqa: S608
    if execute(conn, f"SELECT count(*) FROM {TABLE}")[0][0] != 2:  # noqa: S608
        raise AssertionError("the read did not see the writes before it")
    write(conn, f"DELETE FROM {TABLE}")  # noqa: S608


def one_by_one(conn: Connection) -> None:
    with conn.begin():
        transaction(conn)


def deferred(conn: Connection) -> None:
    with conn.begin(), deferring(conn):
        transaction(conn)


def measure(
    conn: Connection, run: Callable[[Connection], None], count: int, busy: bool
) -> tuple[float, float]:
    """(wall µs, thread CPU µs) per transaction."""
    stop = threading.Event()

    def spin() -> None:  # holds the interpreter but for the switches it is asked for
        while not stop.is_set():
            sum(range(200))

    spinner = threading.Thread(target=spin, daemon=True)
    if busy:
        spinner.start()
    try:
        for _ in range(min(count, 50)):  # warm up: psycopg prepares statements after five runs
            run(conn)
        began, cpu = time.perf_counter(), time.thread_time()
        for _ in range(count):
            run(conn)
        return (time.perf_counter() - began) / count * 1e6, (time.thread_time() - cpu) / count * 1e6
    finally:
        stop.set()
        if busy:
            spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--transactions", type=int, default=2000, help="per mode, alone")
    parser.add_argument("--busy-transactions", type=int, default=200, help="per mode, beside a busy thread")
    args = parser.parse_args()
    db = Database(args.url, pool_size=1)
    rows = []
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {TABLE} (x integer)")
        conn.commit()
        try:
            for busy, count in ((False, args.transactions), (True, args.busy_transactions)):
                base = None
                for name, run in (("one by one", one_by_one), ("deferred", deferred)):
                    wall, cpu = measure(conn, run, count, busy)
                    base = base or wall
                    rows.append((name, "busy" if busy else "alone", count, wall, wall / base, cpu))
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
            conn.commit()
    db.dispose()
    interval = sys.getswitchinterval() * 1e3
    print(f"# a read, two inserts, a read, a delete, the commit; switch interval {interval:g} ms")
    print("| mode | beside | transactions | wall µs each | vs one by one | thread CPU µs each |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, beside, count, wall, ratio, cpu in rows:
        print(f"| {name} | {beside} | {count} | {wall:,.0f} | {ratio:.2f} | {cpu:,.0f} |")


if __name__ == "__main__":
    main()
