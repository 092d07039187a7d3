"""Database access: one ``Database`` per process, SQLite (WAL) or PostgreSQL behind SQLAlchemy Core.

- ``Database.write()`` opens a write transaction. On SQLite it starts with ``BEGIN IMMEDIATE`` so the
  write lock is taken up front (a deferred transaction that upgrades later can fail with SQLITE_BUSY
  instead of waiting); on PostgreSQL it is a plain READ COMMITTED transaction in which callers lock
  the rows they change (``SELECT ... FOR UPDATE``).
- On SQLite, Qasid's processes (``qasid api`` and workers beside it) also queue for the write lock
  on a file lock (``Database.write_lock``). SQLite's own busy handler waits by sleeping and retrying
  (1, 2, 5, 10, 15, 20, 25 ms...), so under contention the lock stood free while the next writer
  slept; the file lock hands it over at once. Other programs writing the same file still meet the
  busy timeout as before.
- ``Database.read()`` opens a read-only snapshot that never waits for the writer (WAL on SQLite,
  REPEATABLE READ on PostgreSQL).

Connections are synchronous: the hot write path runs in the group-commit writer thread
(``qasid.db.writer``) and reads run in worker threads, so the event loop never waits on I/O and the
driver is the fastest one for each database (stdlib sqlite3, psycopg 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from qasid.db.bulk import SQLITE_STATEMENT_CACHE, flush
from qasid.settings import Settings

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

_SQLITE_BUSY_MS = 30_000


def normalize_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` (psycopg 3); other URLs unchanged."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """The engines of one database and the two ways to use them."""

    def __init__(
        self, url: str, *, synchronous: str = "FULL", pool_size: int = 8, random_page_cost: float = 1.1
    ) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = self._make_engine(synchronous, pool_size, random_page_cost)
        self._lock_path = f"{make_url(self.url).database}.writelock" if self.is_sqlite else None

    def write_lock(self) -> AbstractContextManager[None]:
        """Held around every write transaction on SQLite: an exclusive ``flock`` on ``<file>.writelock``
        that queues Qasid's own processes in the kernel, which wakes the next one the moment the
        holder is done, instead of SQLite's busy handler, which polls by sleeping 1, 2, 5, 10... ms
        (see the module doc). A no-op on PostgreSQL and where ``flock`` does not exist."""
        if self._lock_path is None or fcntl is None:
            return nullcontext()
        return _flocked(self._lock_path)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            synchronous=settings.sqlite_synchronous,
            pool_size=settings.db_pool_size,
            random_page_cost=settings.postgres_random_page_cost,
        )

    def _make_engine(self, synchronous: str, pool_size: int, random_page_cost: float) -> Engine:
        if not self.is_sqlite:
            # The hot path looks rows up by id from a JSON list of a hundred or so. With the server's
            # default random_page_cost (4, for spinning disks) PostgreSQL plans that as a scan of any
            # table under a few tens of thousands of rows, even with fresh statistics. With the
            # statistics upkeep (qasid.db.statistics) this took PostgreSQL's CPU per message end to end
            # on a new database from ~1 to ~0.55 ms (docs/performance.md). Only Qasid's own sessions
            # are told otherwise.
            options = {}
            if random_page_cost:
                given = make_url(self.url).query.get("options", "")  # e.g. a search_path of its own
                given = " ".join(given) if isinstance(given, tuple) else given
                options["options"] = f"{given} -c random_page_cost={random_page_cost:g}".strip()
            engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                future=True,
                connect_args=options,
            )
            # Writes a transaction deferred (qasid.db.bulk) go before any statement SQLAlchemy runs.
            event.listen(engine, "before_cursor_execute", _send_deferred)
            return engine
        if make_url(self.url).database in (None, "", ":memory:"):
            raise ValueError(
                "Qasid needs a SQLite file (sqlite:///path.db); in-memory databases are not shared"
            )
        engine = create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"cached_statements": SQLITE_STATEMENT_CACHE},  # see qasid.db.bulk
        )
        _configure_sqlite(engine, synchronous)
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        with self.engine.connect() as plain, self.write_lock():
            conn = plain.execution_options(qasid_begin="IMMEDIATE") if self.is_sqlite else plain
            with conn.begin():
                yield conn

    def writer_connection(self) -> Connection:
        """A connection to keep for many write transactions (the group-commit writer's): on SQLite
        each ``begin()`` on it is ``BEGIN IMMEDIATE``."""
        conn = self.engine.connect()
        return conn.execution_options(qasid_begin="IMMEDIATE") if self.is_sqlite else conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read snapshot; nothing is written in it. (On PostgreSQL that takes REPEATABLE
        READ: under READ COMMITTED each statement sees its own moment, and a verification read
        before a commit could show the sends of after it.)"""
        with self.engine.connect() as plain:
            conn = plain if self.is_sqlite else plain.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin() as tx:
                yield conn
                tx.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _flocked(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # gives up the GIL while it waits
        yield
    finally:
        os.close(fd)  # releases the lock


def _send_deferred(conn: Connection, *_: Any) -> None:
    flush(conn)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions defer the write lock).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('qasid_begin', 'DEFERRED')}")
