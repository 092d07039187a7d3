"""A submit's record and a report for it, written at once by two writers (a carrier's HTTP callback
reaches the API while a worker records the submit): the second must wait for the first, or under
PostgreSQL's READ COMMITTED each misses the other's row and the report stays unmatched for good.
(SQLite's one write lock orders them; PostgreSQL takes a lock per part, ``lock_pairs``.)"""

from __future__ import annotations

import threading
import time

import pytest

from qasid.db import Database
from qasid.messages.delivery_repository import DeliveryRepository

PAIR = ("up", "carrier-7")


def test_a_second_writer_of_the_same_part_waits_for_the_first_to_commit(db: Database):
    events: list[str] = []
    locked = threading.Event()

    def second() -> None:
        locked.wait(5)
        with db.write() as conn:
            DeliveryRepository(conn).lock_pairs([PAIR, ("up", "other")])
            events.append("second has it")

    thread = threading.Thread(target=second)
    thread.start()
    with db.write() as conn:
        DeliveryRepository(conn).lock_pairs([PAIR])
        locked.set()
        time.sleep(0.5)  # the second tries meanwhile
        events.append("first commits")
    thread.join(10)
    assert events == ["first commits", "second has it"]


def test_different_parts_do_not_wait_for_each_other(db: Database):
    if db.is_sqlite:
        pytest.skip("SQLite has one write lock: every writer waits for the other (tested above)")
    done = threading.Event()

    def second() -> None:
        with db.write() as conn:
            DeliveryRepository(conn).lock_pairs([("up", "another")])
        done.set()

    with db.write() as conn:
        DeliveryRepository(conn).lock_pairs([PAIR])
        thread = threading.Thread(target=second)
        thread.start()
        assert done.wait(5)
    thread.join(5)
