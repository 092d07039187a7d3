"""Shared fixtures: a real migrated database per test (SQLite, or PostgreSQL when
``QASID_TEST_DATABASE_URL`` is set), the real app behind an ASGI client, and helpers to set up
accounts the way an operator would."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from litestar import Litestar
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from qasid.api.app import create_app
from qasid.db import Database, normalize_url
from qasid.migrations import upgrade
from qasid.models import metadata
from qasid.server_secret import server_secret
from qasid.settings import Settings, get_settings
from tests.receiver import Receiver
from tests.smsc.node_smsc import NodeSmsc
from tests.support import Operator

POSTGRES_URL = os.environ.get("QASID_TEST_DATABASE_URL")


def pytest_report_header() -> str:
    return f"qasid database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once per session: a SQLite template file, or a PostgreSQL schema."""
    if POSTGRES_URL is None:
        template = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{template}")
        yield str(template)
        return
    schema = f"qasid_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(POSTGRES_URL), poolclass=NullPool)  # survives a server restart
    with admin.begin() as conn:  # an unreachable PostgreSQL fails here: never skipped
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(POSTGRES_URL, schema)
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def database_url(_migrated: str, tmp_path: Path) -> str:
    """An empty, migrated database for this test."""
    if POSTGRES_URL is None:
        target = tmp_path / "qasid.db"
        shutil.copyfile(_migrated, target)
        return f"sqlite:///{target}"
    engine = create_engine(normalize_url(_migrated))
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return _migrated


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """Settings for this test; the environment says the same, for CLI commands run in-process."""
    monkeypatch.setenv("QASID_DATABASE_URL", database_url)
    monkeypatch.setenv("QASID_SECRET_KEY_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("QASID_CACHE_SECONDS", "0")
    monkeypatch.setenv("QASID_LOG_JSON", "false")
    get_settings.cache_clear()
    server_secret(get_settings())  # made, as `qasid migrate` makes it, for the commands that only read it
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    yield database
    database.dispose()


@pytest.fixture
def operator(db: Database) -> Operator:
    return Operator(db)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    """The real API as ``qasid api`` runs it (no dispatching: messages stay where the API put them),
    lifespan and all, behind an in-process HTTP client; and the app."""
    app = create_app(settings, role="api")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qasid.test") as http,
    ):
        yield http, app


@pytest.fixture
def client(api: tuple[httpx.AsyncClient, Litestar]) -> httpx.AsyncClient:
    """The ``api`` fixture's HTTP client."""
    return api[0]


FAST = {
    "dispatch_idle_poll_seconds": 0.05,
    "heartbeat_seconds": 0.2,
    "worker_dead_after_seconds": 1.0,
    "retry_base_seconds": 0.05,
    "retry_cap_seconds": 0.2,
    "connectors_reload_seconds": 0.2,
    "min_validity_seconds": 1,
    "report_grace_seconds": 0,
}


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Settings with the dispatcher's timings shrunk so tests wait milliseconds, not minutes."""
    return settings.model_copy(update=FAST)


@pytest.fixture
async def gateway(fast_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    """The whole gateway as ``qasid serve`` runs it: API, dispatcher and connectors in one process."""
    app = create_app(fast_settings, role="serve")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qasid.test") as http,
    ):
        yield http, app


@pytest.fixture
async def node_smsc() -> AsyncIterator[NodeSmsc]:
    """An SMSC built on node-smpp (tests/smsc/node/smsc.js) on a free loopback port, account
    ``qasid``/``secret``; it is killed when the test ends."""
    async with NodeSmsc() as smsc:
        yield smsc


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A customer's webhook receiver on a free loopback port (tests/receiver.py)."""
    async with Receiver() as found:
        yield found
