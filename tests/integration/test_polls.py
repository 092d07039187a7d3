"""The workers' polls for campaigns and contact imports: idle, they only read. On SQLite a write
transaction takes the database's one write lock, which every send and verification waits for."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Connection

from qasid.campaigns.runner import CampaignRunner
from qasid.contacts.importer import Importer
from qasid.db import Database
from qasid.settings import Settings


@pytest.fixture
def writes(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every write transaction ``db`` opens, counted."""
    opened: list[str] = []
    write = db.write

    def counted() -> AbstractContextManager[Connection]:
        opened.append("write")
        return write()

    monkeypatch.setattr(db, "write", counted)
    return opened


def test_idle_polls_open_no_write_transaction(db: Database, settings: Settings, writes: list[str]):
    assert CampaignRunner(db, "wrk_idle", settings)._claim() is None
    assert Importer(db, "wrk_idle")._claim() is None
    assert writes == []


def test_the_count_sees_writes(db: Database, writes: list[str]):  # the fixture itself can fail
    with db.write():
        pass
    assert writes == ["write"]
