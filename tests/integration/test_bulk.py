"""qasid.db.bulk against the real databases."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from qasid.db import Database
from qasid.db import bulk as bulk_module
from qasid.db.bulk import (
    _DEFERRED,
    SQLITE_EXACT_ROWS,
    Query,
    _update_sql,
    bulk_insert,
    bulk_update,
    deferring,
    execute,
    fetch,
    given,
    one_of,
    placeholder,
    rows_query,
    statement_sizes,
    tally,
    untallied,
    write,
)
from qasid.models import accounts, api_keys, batches, ledger_entries, messages, verification_tallies
from qasid.webhooks.repository import _MESSAGE_SUBJECTS, DeliveryRepository
from tests.support import Operator


class TestRowsQuery:
    def test_rows_come_back_as_a_core_select_gives_them(self, db: Database, operator: Operator):
        ids = sorted(operator.customer(name=name).account.id for name in ("one", "two", "three"))
        with db.read() as conn:
            condition, params = one_of(conn, accounts.c.id, [ids[0], ids[2], "acc_none"])
            found = rows_query(conn, accounts, condition, params, tail="ORDER BY accounts.id").run(conn)
            core = conn.execute(
                select(accounts).where(accounts.c.id.in_([ids[0], ids[2]])).order_by(accounts.c.id)
            )
            some = rows_query(
                conn, accounts, condition, params, names=("id", "updated_at"), tail="ORDER BY 1"
            ).run(conn)
        assert found == [dict(row) for row in core.mappings()]
        assert all(
            row["created_at"].tzinfo is UTC for row in found
        )  # datetimes as the column type gives them
        assert some == [{"id": row["id"], "updated_at": row["updated_at"]} for row in found]

    def test_a_view_of_joined_tables_comes_back_as_core_gives_it(self, db: Database, operator: Operator):
        customers = [operator.customer(name=name) for name in ("one", "two")]
        view = select(
            api_keys.c.id, accounts.c.name, accounts.c.created_at.label("account_created_at")
        ).select_from(api_keys.join(accounts, accounts.c.id == api_keys.c.account_id))
        wanted = [customers[1].account.id]
        with db.read() as conn:
            condition, params = one_of(conn, accounts.c.id, wanted)
            found = rows_query(conn, view, condition, params).run(conn)
            core = conn.execute(view.where(accounts.c.id.in_(wanted))).mappings().all()
        assert found == [dict(row) for row in core]
        assert [row["name"] for row in found] == ["two"]
        assert found[0]["account_created_at"].tzinfo is UTC

    def test_a_view_with_a_where_or_two_columns_of_one_name_is_refused(self, db: Database):
        with db.read() as conn:
            with pytest.raises(ValueError, match="WHERE"):
                rows_query(conn, select(accounts.c.id).where(accounts.c.id == "x"), "1 = 1", ())
            with pytest.raises(ValueError, match="two columns"):
                rows_query(conn, select(accounts.c.id, api_keys.c.id), "1 = 1", ())


class TestBulkInsert:
    @pytest.mark.parametrize("count", [1, SQLITE_EXACT_ROWS, SQLITE_EXACT_ROWS + 1, 937, 2_345])
    def test_every_row_is_written_in_order(self, db: Database, operator: Operator, count: int):
        account = operator.customer().account.id
        at = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
        rows = [(account, "adjustment", i, None, None, f"row {i}", at) for i in range(count)]
        columns = ("account_id", "kind", "amount", "batch_id", "message_id", "note", "created_at")
        with db.write() as conn:
            bulk_insert(conn, ledger_entries, rows, columns)
        with db.read() as conn:
            query = select(*(ledger_entries.c[name] for name in columns)).order_by(ledger_entries.c.id)
            written = [tuple(row) for row in conn.execute(query.where(ledger_entries.c.kind == "adjustment"))]
        assert written == rows


class TestExecute:
    def test_rows_come_back_and_driver_errors_as_sqlalchemy_raises_them(
        self, db: Database, operator: Operator
    ):
        account = operator.customer(name="one").account.id
        with db.write() as conn:
            mark = placeholder(conn.dialect)
            found = execute(conn, f"SELECT id, name FROM accounts WHERE id = {mark}", (account,))  # noqa: S608
            nothing = execute(conn, f"UPDATE accounts SET name = {mark} WHERE id = {mark}", ("two", account))  # noqa: S608
        assert [tuple(row) for row in found] == [(account, "one")]
        assert nothing == []
        sql = f"INSERT INTO accounts (id, name) VALUES ({mark}, {mark})"  # noqa: S608
        with db.write() as conn, pytest.raises(IntegrityError) as raised:
            execute(conn, sql, (account, "again"))
        assert isinstance(raised.value.orig, conn.dialect.loaded_dbapi.Error)
        with db.read() as conn:
            assert conn.execute(select(accounts.c.name).where(accounts.c.id == account)).scalar() == "two"


LEDGER = ("account_id", "kind", "amount", "batch_id", "message_id", "note", "created_at")


class TestDeferredWrites:
    """In a transaction that defers (the writer's, on PostgreSQL), writes wait and go in one
    pipeline before whatever runs next; on SQLite they run at once."""

    def test_they_go_in_order_before_the_next_read_ours_or_sqlalchemys(
        self, db: Database, operator: Operator
    ):
        account = operator.customer(name="one").account.id
        at = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
        total = select(func.count()).select_from(ledger_entries).where(ledger_entries.c.kind == "adjustment")
        with db.write() as conn, deferring(conn):
            info = conn.info  # the connection's, which outlives this transaction in the pool
            bulk_insert(conn, ledger_entries, [(account, "adjustment", 5, None, None, "a", at)], LEDGER)
            bulk_update(conn, ledger_entries, "note", ("amount",), [("a", 7)])  # sees the insert before it
            bulk_update(conn, accounts, "id", ("name",), [(account, "two")])
            waiting = len(info.get(_DEFERRED) or [])
            core = conn.execute(total).scalar_one()  # SQLAlchemy's statement: the writes go first
            bulk_insert(conn, ledger_entries, [(account, "adjustment", 1, None, None, "b", at)], LEDGER)
            ours = execute(
                conn, "SELECT note, amount FROM ledger_entries WHERE kind = 'adjustment' ORDER BY id"
            )
            bulk_update(conn, accounts, "id", ("name",), [(account, "three")])  # sent as the block ends
        left = info.get(_DEFERRED)
        assert waiting == (3 if db.url.startswith("postgresql") else 0)
        assert left is None
        assert core == 1
        assert [tuple(row) for row in ours] == [("a", 7), ("b", 1)]
        with db.read() as conn:
            assert conn.execute(select(accounts.c.name).where(accounts.c.id == account)).scalar() == "three"

    def test_queries_fetched_together_go_with_them_in_one_round_trip(
        self, db: Database, operator: Operator, monkeypatch: pytest.MonkeyPatch
    ):
        account = operator.customer(name="one").account.id
        mark = placeholder(db.engine.dialect)
        sent: list[tuple[int, int]] = []
        real = bulk_module._send

        def counted(conn: Connection, driver: Any, writes: list[Any], reads: list[Any]) -> list[Any]:
            sent.append((len(writes), len(reads)))
            return real(conn, driver, writes, reads)

        monkeypatch.setattr(bulk_module, "_send", counted)
        name = Query(f"SELECT name FROM accounts WHERE id = {mark}", (account,), lambda rows: rows[0][0])  # noqa: S608
        count = Query("SELECT count(*) FROM accounts", (), lambda rows: rows[0][0])
        with db.read() as conn:
            known = conn.execute(select(func.count()).select_from(accounts)).scalar_one()
        with db.write() as conn, deferring(conn):
            first = fetch(conn, [name, Query.known("asked of nobody"), count])  # with the BEGIN
            bulk_update(conn, accounts, "id", ("name",), [(account, "two")])
            bulk_update(conn, accounts, "id", ("name",), [(account, "three")])
            second = fetch(conn, [name.then(str.upper), count])
        assert first == ["one", "asked of nobody", known]
        assert second == ["THREE", known]
        # PostgreSQL: each fetch one pipeline, the second with the two writes before it; SQLite
        # sends each statement as it comes.
        assert sent == ([(0, 2), (2, 2)] if db.url.startswith("postgresql") else [])

    def test_an_error_among_them_is_raised_in_their_transaction(self, db: Database, operator: Operator):
        account = operator.customer(name="one").account.id
        at = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
        mark = placeholder(db.engine.dialect)

        def transaction() -> None:
            with db.write() as conn, deferring(conn):
                bulk_insert(conn, ledger_entries, [(account, "adjustment", 5, None, None, "a", at)], LEDGER)
                bulk_insert(conn, accounts, [(account, "again")], ("id", "name"))  # the id is taken
                bulk_update(conn, accounts, "id", ("name",), [(account, "two")])
                execute(conn, f"SELECT name FROM accounts WHERE id = {mark}", (account,))  # noqa: S608

        with pytest.raises(IntegrityError) as raised:
            transaction()
        assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.Error)
        with db.read() as conn:  # nothing of the transaction stayed
            assert conn.execute(select(accounts.c.name).where(accounts.c.id == account)).scalar() == "one"
            adjustments = (
                select(func.count()).select_from(ledger_entries).where(ledger_entries.c.kind == "adjustment")
            )
            assert conn.execute(adjustments).scalar_one() == 0

    def test_a_write_held_for_last_goes_after_every_other_but_not_out_of_a_savepoint(
        self, db: Database, operator: Operator
    ):
        account = operator.customer(name="one").account.id
        mark = placeholder(db.engine.dialect)
        rename = f"UPDATE accounts SET name = {mark} WHERE id = {mark}"  # noqa: S608
        name = f"SELECT name FROM accounts WHERE id = {mark}"  # noqa: S608
        with db.write() as conn, deferring(conn):
            write(conn, rename, ("last", account), last=True)
            bulk_update(conn, accounts, "id", ("name",), [(account, "later")])
            seen = execute(conn, name, (account,))[0][0]
            with contextlib.suppress(RuntimeError), conn.begin_nested():
                write(conn, rename, ("rolled back", account), last=True)  # goes with its savepoint
                raise RuntimeError
            after_savepoint = execute(conn, name, (account,))[0][0]
        with db.read() as conn:
            final = conn.execute(select(accounts.c.name).where(accounts.c.id == account)).scalar()
        assert (seen, after_savepoint) == ("later", "later")
        # On PostgreSQL it went last, just before the commit; SQLite defers nothing, so it ran first.
        assert final == ("last" if db.url.startswith("postgresql") else "later")


class TestTallies:
    """Counters that many transactions add to (``tally``): summed over the writer's transaction and
    written at its end, keys in order."""

    @staticmethod
    def read(db: Database) -> dict[str, int]:
        with db.read() as conn:
            rows = conn.execute(select(verification_tallies.c.account_id, verification_tallies.c.pending))
            return dict(rows.all())

    def test_they_are_summed_over_the_block_and_written_when_it_ends(self, db: Database, operator: Operator):
        one, two = (operator.customer(name=name).account.id for name in ("one", "two"))
        count = verification_tallies.c.pending
        with db.write() as conn, deferring(conn):
            tally(conn, count, {one: 2, two: 1})
            tally(conn, count, {two: -1})  # two's changes come to nothing: no row for it
            tally(conn, count, {one: 1})
            waiting = (untallied(conn, count, one), untallied(conn, count, two))
            inside = execute(conn, "SELECT count(*) FROM verification_tallies")[0][0]
        assert (waiting, inside) == ((3, 0), 0)
        assert self.read(db) == {one: 3}
        with db.write() as conn, deferring(conn):
            tally(conn, count, {one: -2, two: 4})
        assert self.read(db) == {one: 1, two: 4}

    def test_outside_a_block_or_in_a_savepoint_at_once_and_a_failed_block_writes_none(
        self, db: Database, operator: Operator
    ):
        one = operator.customer(name="one").account.id
        count = verification_tallies.c.pending
        with db.write() as conn:
            tally(conn, count, {one: 5})
            assert untallied(conn, count, one) == 0
        assert self.read(db) == {one: 5}
        with db.write() as conn, deferring(conn):
            with contextlib.suppress(RuntimeError), conn.begin_nested():
                tally(conn, count, {one: 100})  # goes with its savepoint
                raise RuntimeError
            tally(conn, count, {one: 1})
        assert self.read(db) == {one: 6}

        def failed() -> None:
            with db.write() as conn, deferring(conn):
                tally(conn, count, {one: 1})
                raise RuntimeError

        with pytest.raises(RuntimeError):
            failed()
        assert self.read(db) == {one: 6}

    def test_two_transactions_adding_to_two_counters_in_opposite_orders_both_commit(
        self, db: Database, operator: Operator
    ):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks are PostgreSQL's: a SQLite write transaction excludes every other")
        one, two = sorted(operator.customer(name=name).account.id for name in ("one", "two"))
        count = verification_tallies.c.pending
        with db.write() as conn:
            tally(conn, count, {one: 1, two: 1})  # the rows exist: each write takes a row lock
        both = threading.Barrier(2, timeout=10)

        def add(first: str, then: str) -> None:
            # Had each been written at once, each transaction would hold its first counter's lock
            # here and wait for the other's: a deadlock, one of them aborted.
            with db.write() as conn, deferring(conn):
                tally(conn, count, {first: 10})
                execute(conn, "SELECT 1")  # the transaction has begun on the server
                both.wait()
                tally(conn, count, {then: 100})

        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(add, two, one), pool.submit(add, one, two)]
            for future in done:
                future.result(timeout=30)
        assert self.read(db) == {one: 111, two: 111}


class TestStatementSizes:
    def test_sizes_add_up_and_stay_few(self):
        seen: set[int] = set()
        for rows in range(1, 3_001):
            sizes = statement_sizes(rows, 1_000)
            assert sum(sizes) == rows
            assert all(0 < size <= 1_000 for size in sizes)
            if rows <= SQLITE_EXACT_ROWS:
                assert sizes == [rows]
            seen.update(sizes)
        assert len(seen) <= SQLITE_EXACT_ROWS + 4  # 1..64, 128, 256, 512 and the full 1,000
        assert statement_sizes(937, 1_000) == [512, 256, 128, 41]
        assert statement_sizes(2_345, 1_000) == [1_000, 1_000, 256, 64, 25]


class TestBulkUpdate:
    def test_the_changed_keys_come_back_only_when_asked(self, db: Database, operator: Operator):
        ids = sorted(operator.customer(name=name).account.id for name in ("one", "two", "three"))
        rows = [(ids[0], "first"), (ids[1], "second"), ("acc_none", "nobody")]
        with db.write() as conn:
            changed = bulk_update(
                conn, accounts, "id", ("name",), rows, where="accounts.id <> 'x'", returning=True
            )
            quiet = bulk_update(conn, accounts, "id", ("name",), [(ids[2], "third")])
        with db.read() as conn:
            names = dict(conn.execute(select(accounts.c.id, accounts.c.name)).all())
        assert sorted(changed) == ids[:2]
        assert quiet == []
        assert [names[i] for i in ids] == ["first", "second", "third"]


class TestGivenRows:
    """A few keys given as JSON find their rows through the table's index, also while the table is
    a young gateway's few thousand rows, which PostgreSQL (planning the JSON as 100 rows) scanned."""

    @pytest.fixture
    def entries(self, db: Database, operator: Operator) -> list[int]:
        account = operator.customer().account.id
        at = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
        rows = [(account, "adjustment", i, None, None, f"row {i}", at) for i in range(4_000)]
        columns = ("account_id", "kind", "amount", "batch_id", "message_id", "note", "created_at")
        with db.write() as conn:
            bulk_insert(conn, ledger_entries, rows, columns)
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE ledger_entries")  # as the upkeep keeps it
            query = select(ledger_entries.c.id).where(ledger_entries.c.kind == "adjustment")
            return [row[0] for row in conn.execute(query.order_by(ledger_entries.c.id))]

    def test_one_of_and_bulk_update_look_the_keys_up(self, db: Database, entries: list[int]):
        wanted = [entries[5], entries[77], entries[1234]]
        with db.write() as conn:
            condition, params = one_of(conn, ledger_entries.c.id, wanted)
            select_sql = (
                f"SELECT ledger_entries.id, ledger_entries.note FROM ledger_entries WHERE {condition}"  # noqa: S608
            )
            rows = [(entry, f"changed {entry}") for entry in wanted]
            update_sql = _update_sql(
                ledger_entries, conn.dialect, ("id",), ("note",), where="", returning=False
            )
            plans = [plan(conn, select_sql, params), plan(conn, update_sql, given(conn.dialect, rows))]
            found = sorted(execute(conn, select_sql, params))
            bulk_update(conn, ledger_entries, "id", ("note",), rows)
            changed = sorted(execute(conn, select_sql, params))
        assert found == [(entry, f"row {entry - entries[0]}") for entry in wanted]
        assert changed == rows
        for text in plans:
            assert not scans(text, "ledger_entries"), text

    def test_the_subjects_of_a_status_change_are_looked_up_by_their_keys(
        self, db: Database, operator: Operator
    ):
        """The lookup behind every transaction that moves messages (who listens to them)."""
        account = operator.customer().account.id
        at = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
        count = 4_000
        with db.write() as conn:
            batch_columns = (
                "id",
                "account_id",
                "channel",
                "sender",
                "body",
                "encoding",
                "segments",
                "currency",
                "expires_at",
                "recipients",
                "total_cost",
                "created_at",
            )
            batch_rows = [
                (f"bat_{i:06d}", account, "sms", "Qasid", "hi", "gsm7", 1, "IQD", at, 1, 1, at)
                for i in range(count)
            ]
            bulk_insert(conn, batches, batch_rows, batch_columns)
            message_columns = (
                "id",
                "account_id",
                "batch_id",
                "recipient",
                "country",
                "price",
                "status",
                "updated_at",
            )
            message_rows = [
                (f"msg_{i:06d}", account, f"bat_{i:06d}", "+9647800000000", "IQ", 1, "sent", at)
                for i in range(count)
            ]
            bulk_insert(conn, messages, message_rows, message_columns)
            conn.execute(update(batches).where(batches.c.id == "bat_000077").values(callback="sealed"))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE batches")
                conn.exec_driver_sql("ANALYZE messages")
            wanted = ["msg_000005", "msg_000077", "msg_001234"]
            sql = _MESSAGE_SUBJECTS[conn.dialect.name]
            text = plan(conn, sql, given(conn.dialect, wanted))
            found = DeliveryRepository(conn).message_subjects(wanted)
        assert [(row[0], row[7]) for row in found] == [("msg_000077", "sealed")]  # only it has a listener
        assert not scans(text, "messages"), text
        assert not scans(text, "batches"), text


def plan(conn: Connection, sql: str, params: tuple[Any, ...]) -> str:
    explain = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql, params))


def scans(plan_text: str, table: str) -> bool:
    """Whether a plan reads all of ``table`` (PostgreSQL's Seq Scan, SQLite's SCAN)."""
    return f"Seq Scan on {table}" in plan_text or f"SCAN {table}" in plan_text.replace(" AS ", " ")
