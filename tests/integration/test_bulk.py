"""qasid.db.bulk against the real databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qasid.db import Database
from qasid.db.bulk import (
    SQLITE_EXACT_ROWS,
    bulk_insert,
    bulk_update,
    execute,
    one_of,
    placeholder,
    select_rows,
    statement_sizes,
)
from qasid.models import accounts, api_keys, ledger_entries
from tests.support import Operator


class TestSelectRows:
    def test_rows_come_back_as_a_core_select_gives_them(self, db: Database, operator: Operator):
        ids = sorted(operator.customer(name=name).account.id for name in ("one", "two", "three"))
        with db.read() as conn:
            condition, params = one_of(conn, accounts.c.id, [ids[0], ids[2], "acc_none"])
            found = select_rows(conn, accounts, condition, params, tail="ORDER BY accounts.id")
            core = conn.execute(
                select(accounts).where(accounts.c.id.in_([ids[0], ids[2]])).order_by(accounts.c.id)
            )
            some = select_rows(
                conn, accounts, condition, params, names=("id", "updated_at"), tail="ORDER BY 1"
            )
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
            found = select_rows(conn, view, condition, params)
            core = conn.execute(view.where(accounts.c.id.in_(wanted))).mappings().all()
        assert found == [dict(row) for row in core]
        assert [row["name"] for row in found] == ["two"]
        assert found[0]["account_created_at"].tzinfo is UTC

    def test_a_view_with_a_where_or_two_columns_of_one_name_is_refused(self, db: Database):
        with db.read() as conn:
            with pytest.raises(ValueError, match="WHERE"):
                select_rows(conn, select(accounts.c.id).where(accounts.c.id == "x"), "1 = 1", ())
            with pytest.raises(ValueError, match="two columns"):
                select_rows(conn, select(accounts.c.id, api_keys.c.id), "1 = 1", ())


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
