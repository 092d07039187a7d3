"""qasid.db.bulk against the real databases."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from qasid.db import Database
from qasid.db.bulk import one_of, select_rows
from qasid.models import accounts
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
