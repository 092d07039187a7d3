"""qasid.db.bulk against the real databases."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from qasid.db import Database
from qasid.db.bulk import bulk_update, one_of, select_rows
from qasid.models import accounts, api_keys
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
